"""Bytes on the wire: canonical events, findings, trust changes and snapshots as JSON.

A single native event read back is validated by pydantic like any input (a topic is input like
any other). Batches of events (``transport.wire``) are decoded by msgspec straight into the
contract's ``Event``: types and the contract's rules are checked in C and in ``__post_init__``,
without pydantic's cost. Engine outputs are our own and decoded without validation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import orjson

from contract.events import Event, validate_event_json
from contract.records import CredentialRow, Factor, Finding, IdentityRow, TaskRow, TrustChange

_ENCODER = msgspec.json.Encoder()
_EVENTS = msgspec.json.Decoder(list[Event])
_EVENT = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """One event in the native record form (fields at their defaults left out)."""
    return orjson.dumps(event.to_json_dict())


def decode_event(data: bytes) -> Event:
    """One native event from any producer: pydantic's full, strict validation."""
    return validate_event_json(data)


def encode_events(events: list[Event]) -> bytes:
    """Many events as one JSON array (every field written: msgspec encodes it in C)."""
    return _ENCODER.encode(events)


def decode_events(data: bytes) -> list[Event]:
    """A JSON array of events (``encode_events``); msgspec.ValidationError or DecodeError if not."""
    return _EVENTS.decode(data)


def decode_event_fast(data: bytes) -> Event:
    """One event this pipeline encoded itself (``encode_events`` element or ``encode_event``)."""
    return _EVENT.decode(data)


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
