"""Bytes on the wire: canonical events, findings, trust changes and snapshots as JSON.

Events are re-validated when read back (a topic is input like any other); engine outputs are
our own and decoded without validation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from contract.events import Event
from contract.records import CredentialRow, Factor, Finding, IdentityRow, TaskRow, TrustChange


def encode_event(event: Event) -> bytes:
    return orjson.dumps(event.to_json_dict())


def decode_event(data: bytes) -> Event:
    return Event.model_validate_json(data)


def event_key(event: Event) -> bytes:
    """Partition key on the events topic: the NHI, else what the resolver will look it up by."""
    key = event.nhi or event.task or event.credential or event.owner or event.id
    return key.encode()


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _shallow(obj: Any) -> dict[str, Any]:
    # Not dataclasses.asdict: that deep-copies every value, and these rows are flat already.
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def encode_finding(f: Finding) -> bytes:
    return orjson.dumps(f)  # orjson serialises the dataclass natively: the same object as as_row()


def decode_finding(data: bytes) -> Finding:
    d = orjson.loads(data)
    for k in ("first_seen", "last_seen", "resolved_at"):
        d[k] = _dt(d.get(k))
    return Finding(**d)


def encode_trust(t: TrustChange, identity: IdentityRow | None = None) -> bytes:
    row = t.as_row()
    if identity is not None:
        row["identity"] = _shallow(identity)
    return orjson.dumps(row)


def decode_trust(data: bytes) -> tuple[TrustChange, IdentityRow | None]:
    d = orjson.loads(data)
    ident = d.pop("identity", None)
    factors = tuple(
        Factor(f["name"], f["delta"], f["detail"], tuple(f.get("evidence", ()))) for f in d.pop("factors", [])
    )
    d["time"] = _dt(d["time"])
    change = TrustChange(factors=factors, **d)
    row = None
    if ident is not None:
        for k in ("first_seen", "last_seen"):
            ident[k] = _dt(ident[k])
        row = IdentityRow(**ident)
    return change, row


def encode_entity(row: CredentialRow | TaskRow) -> tuple[bytes, bytes]:
    """(key, value) for the entities topic."""
    if isinstance(row, CredentialRow):
        return f"credential:{row.nhi}:{row.credential}".encode(), orjson.dumps(
            {"kind": "credential", **_shallow(row)}
        )
    return f"task:{row.nhi}:{row.task}".encode(), orjson.dumps({"kind": "task", **_shallow(row)})


def decode_entity(data: bytes) -> CredentialRow | TaskRow:
    d = orjson.loads(data)
    kind = d.pop("kind")
    if kind == "credential":
        for k in ("issued_at", "expires_at", "revoked_at", "first_used", "last_used"):
            d[k] = _dt(d.get(k))
        return CredentialRow(**d)
    for k in ("started_at", "ended_at"):
        d[k] = _dt(d.get(k))
    return TaskRow(**d)


SkipKey = tuple[str, str, str]  # (origin, source, reason)


def encode_skipped(key: SkipKey, records: int) -> tuple[bytes, bytes]:
    """(key, value) of a skip tally on the ingest-stats topic."""
    origin, source, reason = key
    return "\x1f".join(key).encode(), orjson.dumps(
        {"origin": origin, "source": source, "reason": reason, "records": records}
    )


def decode_skipped(data: bytes) -> tuple[SkipKey, int]:
    d = orjson.loads(data)
    records = d["records"]
    if not isinstance(records, int) or isinstance(records, bool) or records < 0:
        raise ValueError(f"records must be a count, got {records!r}")
    return (str(d["origin"]), str(d["source"]), str(d["reason"])), records
