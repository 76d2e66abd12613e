"""How every Kafka client of nhi-evidence finds and authenticates to the brokers, from ``NHI_KAFKA_*``.

==============================  ============================================================  ===========
Variable                        Meaning                                                       Default
==============================  ============================================================  ===========
NHI_KAFKA_BOOTSTRAP             host:port[,host:port...] (also ``--bootstrap``)                (none)
NHI_KAFKA_SECURITY_PROTOCOL     PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL                    PLAINTEXT
NHI_KAFKA_SASL_MECHANISM        PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)      PLAIN
NHI_KAFKA_SASL_USERNAME         SASL user (required with SASL_*)                              (none)
NHI_KAFKA_SASL_PASSWORD         SASL password (required with SASL_*)                          (none)
NHI_KAFKA_SSL_CAFILE            PEM bundle that verifies the brokers (SSL, SASL_SSL)           system CAs
NHI_KAFKA_SSL_CERTFILE          client certificate, PEM, for mTLS (needs the key file too)    (none)
NHI_KAFKA_SSL_KEYFILE           client private key, PEM, for mTLS                             (none)
NHI_KAFKA_SSL_KEY_PASSWORD      password of an encrypted client key                           (none)
NHI_KAFKA_COMPRESSION           producer compression: lz4, zstd, gzip, snappy or none          lz4
==============================  ============================================================  ===========

``KafkaSecurity`` is the client-neutral description (the faust worker maps it to faust's
credentials); ``client_options`` turns it into keyword arguments for aiokafka's producer,
consumer and admin client. The password never appears in ``repr`` (it ends up in logs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# GSSAPI and OAUTHBEARER need a Kerberos setup / a token provider object: not configurable from env.
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
COMPRESSIONS = ("gzip", "lz4", "snappy", "zstd", "none")


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: str | None = field(default=None, repr=False)

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def load_security(environ: Mapping[str, str] | None = None) -> KafkaSecurity:
    """Read and check the ``NHI_KAFKA_*`` security variables; ConfigError names the wrong one."""
    env = os.environ if environ is None else environ
    protocol = (_get(env, "NHI_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"NHI_KAFKA_SECURITY_PROTOCOL={protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    mechanism = (_get(env, "NHI_KAFKA_SASL_MECHANISM") or "PLAIN").upper()
    if mechanism not in MECHANISMS:
        raise ConfigError(f"NHI_KAFKA_SASL_MECHANISM={mechanism!r}: choose one of {', '.join(MECHANISMS)}")
    sec = KafkaSecurity(
        protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=_get(env, "NHI_KAFKA_SASL_USERNAME"),
        sasl_password=_get(env, "NHI_KAFKA_SASL_PASSWORD"),
        ssl_cafile=_get(env, "NHI_KAFKA_SSL_CAFILE"),
        ssl_certfile=_get(env, "NHI_KAFKA_SSL_CERTFILE"),
        ssl_keyfile=_get(env, "NHI_KAFKA_SSL_KEYFILE"),
        ssl_key_password=_get(env, "NHI_KAFKA_SSL_KEY_PASSWORD"),
    )
    _check(sec)
    return sec


def _check(sec: KafkaSecurity) -> None:
    if sec.uses_sasl and not (sec.sasl_username and sec.sasl_password):
        raise ConfigError(
            f"NHI_KAFKA_SECURITY_PROTOCOL={sec.protocol} needs NHI_KAFKA_SASL_USERNAME and NHI_KAFKA_SASL_PASSWORD"
        )
    ssl_files = {
        "NHI_KAFKA_SSL_CAFILE": sec.ssl_cafile,
        "NHI_KAFKA_SSL_CERTFILE": sec.ssl_certfile,
        "NHI_KAFKA_SSL_KEYFILE": sec.ssl_keyfile,
    }
    given = [name for name, value in ssl_files.items() if value]
    if given and not sec.uses_ssl:
        # Silently ignoring a CA or client cert would connect in clear text to what the user meant as TLS.
        raise ConfigError(
            f"{', '.join(given)} set but NHI_KAFKA_SECURITY_PROTOCOL={sec.protocol}; use SSL or SASL_SSL"
        )
    if bool(sec.ssl_certfile) != bool(sec.ssl_keyfile):
        raise ConfigError("mTLS needs both NHI_KAFKA_SSL_CERTFILE and NHI_KAFKA_SSL_KEYFILE")
    for name, value in ssl_files.items():
        if value and not Path(value).is_file():
            raise ConfigError(f"{name}={value}: no such file")


def client_options(sec: KafkaSecurity | None = None) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
    sec = sec if sec is not None else load_security()
    options: dict[str, Any] = {"security_protocol": sec.protocol}
    if sec.uses_ssl:
        from aiokafka.helpers import create_ssl_context

        try:
            options["ssl_context"] = create_ssl_context(
                cafile=sec.ssl_cafile,
                certfile=sec.ssl_certfile,
                keyfile=sec.ssl_keyfile,
                password=sec.ssl_key_password,
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: bad PEM, wrong key password
            raise ConfigError(f"Kafka TLS settings can't be used: {exc}") from exc
    if sec.uses_sasl:
        options["sasl_mechanism"] = sec.sasl_mechanism
        options["sasl_plain_username"] = sec.sasl_username
        options["sasl_plain_password"] = sec.sasl_password
    return options


def bootstrap_from(value: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``--bootstrap`` if given, else NHI_KAFKA_BOOTSTRAP; ConfigError when neither is set."""
    env = os.environ if environ is None else environ
    chosen = (value or env.get("NHI_KAFKA_BOOTSTRAP", "")).strip()
    if not chosen:
        raise ConfigError("no Kafka broker given: pass --bootstrap HOST:PORT or set NHI_KAFKA_BOOTSTRAP")
    return chosen


def compression_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """Producer compression; lz4 by default: fast on both ends, and it suits batch records of
    repetitive JSON (aiokafka's lz4, zstd and snappy codecs come from cramjam, a dependency)."""
    env = os.environ if environ is None else environ
    name = (_get(env, "NHI_KAFKA_COMPRESSION") or "lz4").lower()
    if name not in COMPRESSIONS:
        raise ConfigError(f"NHI_KAFKA_COMPRESSION={name!r}: choose one of {', '.join(COMPRESSIONS)}")
    if name == "none":
        return None
    from aiokafka import codec

    available = {
        "gzip": codec.has_gzip,
        "lz4": codec.has_lz4,
        "snappy": codec.has_snappy,
        "zstd": codec.has_zstd,
    }
    if not available[name]():
        raise ConfigError(
            f"NHI_KAFKA_COMPRESSION={name}: its Python package is not installed (gzip always works)"
        )
    return name
