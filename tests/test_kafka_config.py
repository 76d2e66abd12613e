"""NHI_KAFKA_* -> aiokafka client options, and the mistakes that are refused up front."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from contract.errors import ConfigError
from transport.config import bootstrap_from, client_options, compression_from_env, load_security


def test_plaintext_by_default() -> None:
    assert client_options(load_security({})) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_scram() -> None:
    env = {
        "NHI_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "NHI_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "NHI_KAFKA_SASL_USERNAME": "svc",
        "NHI_KAFKA_SASL_PASSWORD": "pw-not-in-repr",
    }
    sec = load_security(env)
    assert "pw-not-in-repr" not in repr(sec)
    options = client_options(sec)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("svc", "pw-not-in-repr")
    assert isinstance(options["ssl_context"], ssl.SSLContext)  # system CAs without NHI_KAFKA_SSL_CAFILE


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NHI_KAFKA_SECURITY_PROTOCOL": "TLS"}, "choose one of"),
        ({"NHI_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "needs NHI_KAFKA_SASL_USERNAME"),
        ({"NHI_KAFKA_SASL_MECHANISM": "GSSAPI"}, "choose one of"),
        ({"NHI_KAFKA_SSL_CAFILE": "/etc/hosts"}, "use SSL or SASL_SSL"),
        ({"NHI_KAFKA_SECURITY_PROTOCOL": "SSL", "NHI_KAFKA_SSL_CERTFILE": "/etc/hosts"}, "both"),
        ({"NHI_KAFKA_SECURITY_PROTOCOL": "SSL", "NHI_KAFKA_SSL_CAFILE": "/nope.pem"}, "no such file"),
    ],
)
def test_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_security(env)


def test_unreadable_ca_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    sec = load_security({"NHI_KAFKA_SECURITY_PROTOCOL": "SSL", "NHI_KAFKA_SSL_CAFILE": str(bad)})
    with pytest.raises(ConfigError, match="TLS settings"):
        client_options(sec)


def test_bootstrap_and_compression() -> None:
    assert bootstrap_from("a:1", {"NHI_KAFKA_BOOTSTRAP": "b:2"}) == "a:1"
    assert bootstrap_from(None, {"NHI_KAFKA_BOOTSTRAP": "b:2"}) == "b:2"
    with pytest.raises(ConfigError, match="--bootstrap"):
        bootstrap_from(None, {})
    assert compression_from_env({}) == "lz4"
    assert compression_from_env({"NHI_KAFKA_COMPRESSION": "none"}) is None
    with pytest.raises(ConfigError):
        compression_from_env({"NHI_KAFKA_COMPRESSION": "brotli"})
