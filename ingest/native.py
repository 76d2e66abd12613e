"""The native format: one canonical event per JSON line (contract v1)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contract.errors import RecordRejected
from contract.events import Event, EventType, event_from_record
from ingest.parsing import ParseContext
from ingest.secrets import scrub

_TYPES = frozenset(t.value for t in EventType)


def parse_native(record: Any, ctx: ParseContext) -> list[Event]:
    if not isinstance(record, dict):
        raise RecordRejected(f"expected a JSON object, got {type(record).__name__}")
    attrs = record.get("attrs")
    if attrs:
        # attrs is free-form, so it is where a producer could leak a token.
        record = {**record, "attrs": scrub(attrs, ctx.settings.fingerprint_key)}
    try:
        return [event_from_record(record)]
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc)) from None


def sniff_native(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    kind = record.get("type")
    return isinstance(kind, str) and kind in _TYPES and "time" in record


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: 'field: message (got value)'. Input values are cut short."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"]
        got = err.get("input")
        if err["type"] == "missing" or isinstance(got, dict):
            parts.append(f"{loc}: {msg}")
        else:
            shown = repr(got)
            parts.append(f"{loc}: {msg} (got {shown[:60]}{'...' if len(shown) > 60 else ''})")
    return "; ".join(parts)
