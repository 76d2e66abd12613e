"""SPIRE server logs (logrus text ``key=value`` lines, or ``log_format = "json"``) -> SVID issuance.

Real line shapes (SPIRE server, debug level for signing, info for attestation)::

    time="2019-10-17T20:48:55Z" level=debug msg="Signed X509 SVID" expiration="2019-10-17T21:48:55Z"
        spiffe_id="spiffe://example.org/spire/agent/k8s_sat/demo-cluster/578c..." subsystem_name=ca
    time="..." level=debug msg="Signed X509 SVID" authorized_as=agent caller_addr="172.25.0.3:51974"
        caller_id="spiffe://example.com/spire/agent/x509pop/cn/agent.example.com" entry_id=c661...
        expiration="2025-02-04T00:34:01Z" method=BatchNewX509SVID serial_num=6336... spiffe_id=... subsystem_name=api
    time="..." level=debug msg="Server CA successfully signed JWT SVID" audience="[aud]" expiration=... spiffe_id=...
    time="..." level=info msg="Agent attestation request completed" address="172.25.0.3:51972"
        agent_id="spiffe://example.com/spire/agent/x509pop/cn/agent.example.com" node_attestor_type=x509pop
    (older: msg="Node attestation request completed" attestor=k8s_sat spiffe_id=... subsystem_name=node_api)

Mapping: each signing or attestation line -> one ``credential.issued`` with ``attested=True`` (SPIRE only
signs for attested agents and workloads), nhi = the SPIFFE ID, method ``spiffe-x509-svid`` or
``spiffe-jwt-svid``, expiry from ``expiration``/``expires_at``, ``caller_addr``/``address`` -> ip.
The credential is ``spiffe-x509:<serial_num>`` when logged, else a hash of the SVID's identifiers
(SPIFFE ID, expiry; JWTs also audience and request id). Attestation lines carry no expiry: the agent
SVID TTL is ``options["agent_svid_ttl"]`` seconds, else SPIRE's default 3600 (``expires_at_assumed``).

Every SVID event is ``principal_kind = "machine"`` and ``session_kind = "workload"`` (SPIRE
signs only for attested agents and workloads). Other SPIRE lines (startup, plugins, cache, errors)
are skipped with that reason: they are SPIRE, just not evidence, and must not flood the reject
store. Only lines that are not logrus/SPIRE log lines are rejected.
Servers at log level info log attestation but not signing: set ``log_level = "DEBUG"`` (or enable
``audit_log_enabled``) to see every SVID. A server logging both the CA and the API line for one
SVID yields two issuances (no shared serial to join them).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import orjson

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Context, Event, EventType
from contract.identity import KIND_EVIDENCE, MACHINE, PRINCIPAL_KIND, SESSION_KIND, WORKLOAD
from ingest.parsing import ParseContext
from ingest.secrets import scrub
from ingest.toolkit.build import looks_native, one_event, record_hash, short_hash
from ingest.toolkit.fields import host_of
from ingest.toolkit.times import parse_seconds, parse_time

SOURCE = "spire"
DEFAULT_AGENT_SVID_SECONDS = 3600.0
_X509 = frozenset({"Signed X509 SVID"})
_JWT = frozenset({"Signed JWT SVID", "Server CA successfully signed JWT SVID"})
_ATTESTATION = frozenset({"Agent attestation request completed", "Node attestation request completed"})
# key=value or key="quoted \" value"; keys as logrus writes them. Groups: key, quoted text (without
# its quotes), bare value. The quoted part is an unrolled loop: an alternation per character
# costs the regex engine twice as much on long messages.
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.\-]*)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s"]*))')
_ATTR_FIELDS = (
    "entry_id",
    "caller_id",
    "method",
    "subsystem_name",
    "authorized_as",
    "authorized_via",
    "request_id",
    "node_attestor_type",
    "attestor",
    "selectors",
    "audience",
    "dns_name",
    "revision_number",
)
# (field, attribute name): "method" there is the RPC (BatchNewX509SVID), renamed so it is not read
# as the issuance method.
_ATTR_NAMES = tuple((k, "rpc_method" if k == "method" else k) for k in _ATTR_FIELDS)
_REQUIRED = frozenset({"time", "level", "msg"})
_MAX_LINE = 65536


def _unescape(quoted: str) -> str:
    """The text between a value's quotes, with its escapes decoded."""
    try:
        value = orjson.loads(f'"{quoted}"')  # Go's %q escapes are a subset of JSON's for printable text
    except orjson.JSONDecodeError:
        return quoted
    return value if isinstance(value, str) else quoted


def _logfmt(line: str) -> dict[str, str]:
    pairs = _PAIR.findall(line)
    if "\\" not in line:
        # Nothing escaped (nearly every line): a value is its quoted text or its bare text.
        return {k: quoted or bare for k, quoted, bare in pairs}
    return {k: (_unescape(quoted) if "\\" in quoted else quoted) or bare for k, quoted, bare in pairs}


def _scalar(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + " ".join(value) + "]"  # the text format's rendering of a []string
    return None


def _fields(value: Any) -> dict[str, str] | None:
    """The line's fields, or None when it is not a logrus line (needs time, level and msg)."""
    fields: dict[str, str]
    if isinstance(value, dict):
        fields = {}
        for k, v in value.items():
            text = _scalar(v)
            if isinstance(k, str) and text is not None:
                fields[k] = text
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_LINE:
            return None
        if text.startswith("{"):
            try:
                decoded = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
            return _fields(decoded) if isinstance(decoded, dict) else None
        fields = _logfmt(text)
    else:
        return None
    if not fields.keys() >= _REQUIRED:
        return None
    return fields


def _is_spire(fields: dict[str, str]) -> bool:
    return "subsystem_name" in fields or any(
        fields.get(k, "").startswith("spiffe://") for k in ("spiffe_id", "agent_id", "caller_id")
    )


def sniff_spire(value: Any) -> bool:
    if looks_native(value):
        return False
    fields = _fields(value)
    return fields is not None and _is_spire(fields)


def _spiffe_context(spiffe_id: str, ip: str | None) -> Context:
    """Namespace from the ``/ns/<ns>/sa/<sa>`` convention, cluster from k8s agent ids."""
    parts = spiffe_id.removeprefix("spiffe://").split("/")[1:]
    namespace = parts[parts.index("ns") + 1] if "ns" in parts[:-1] else None
    cluster = None
    if len(parts) >= 4 and parts[:2] == ["spire", "agent"] and parts[2] in ("k8s_psat", "k8s_sat"):
        cluster = parts[3] or None
    return Context(namespace=namespace or None, cluster=cluster, ip=ip)


def parse_spire(value: Any, ctx: ParseContext) -> list[Event]:
    fields = _fields(value)
    if fields is None:
        raise RecordRejected("not a SPIRE log line (logrus time=... level=... msg=..., text or JSON)")
    msg = fields["msg"]
    if msg in _X509:
        method = "spiffe-x509-svid"
        nhi = fields.get("spiffe_id", "")
    elif msg in _JWT:
        method = "spiffe-jwt-svid"
        nhi = fields.get("spiffe_id", "")
    elif msg in _ATTESTATION:
        method = "spiffe-x509-svid"
        nhi = fields.get("agent_id") or fields.get("spiffe_id", "")
    else:
        # A SPIRE line that is not issuance evidence (startup, plugins, cache): SPIRE's, not an NHI's.
        raise RecordSkipped("spire: a server line that issues no SVID (startup, plugins, cache, errors)")
    if not nhi.startswith("spiffe://"):
        raise RecordRejected(f"SPIRE '{msg}' line without a spiffe:// id")
    when = parse_time(fields["time"])
    if when is None:
        raise RecordRejected(f"SPIRE line time {fields['time'][:40]!r} is not a timestamp")
    key = ctx.settings.fingerprint_key
    attrs: dict[str, Any] = {name: scrub(v, key) for k, name in _ATTR_NAMES if (v := fields.get(k))}
    # SPIRE signs only for attested agents and workloads: an SVID is a workload's, never a person's.
    attrs.update({PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "attested SPIFFE workload", SESSION_KIND: WORKLOAD})
    expires = parse_time(fields.get("expiration") or fields.get("expires_at"))
    if msg in _ATTESTATION:
        attrs["svid_kind"] = "agent"
        attrs[KIND_EVIDENCE] = "attested SPIRE agent (node)"
        if expires is None:
            seconds = parse_seconds(ctx.options.get("agent_svid_ttl")) or DEFAULT_AGENT_SVID_SECONDS
            expires = when + timedelta(seconds=seconds)
            attrs["expires_at_assumed"] = True
    serial = fields.get("serial_num", "")
    if serial:
        credential = f"spiffe-x509:{serial}"
    elif method == "spiffe-jwt-svid":
        material = (
            nhi,
            fields.get("expiration", ""),
            fields.get("audience", ""),
            fields.get("request_id", ""),
            fields["time"],
        )
        credential = "spiffe-jwt:" + short_hash(*material)
    else:
        credential = "spiffe-x509:" + short_hash(nhi, fields.get("expiration", "") or fields["time"])
    addr = fields.get("caller_addr") or fields.get("address") or ""
    ip = host_of(addr) or None
    return one_event(
        {
            "type": EventType.CREDENTIAL_ISSUED,
            "time": when,
            # The line itself is the identity of the event: a re-read log file is idempotent.
            "id": f"spire:{record_hash(fields)}",
            "source": SOURCE,
            "nhi": nhi,
            "credential": credential,
            "expires_at": expires,
            "method": method,
            "attested": True,
            "context": _spiffe_context(nhi, ip),
            "attrs": attrs,
        }
    )
