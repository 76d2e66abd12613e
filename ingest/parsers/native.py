"""The native format: one canonical event per JSON line (contract v1)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contract.errors import RecordRejected
from contract.events import Event, event_from_record
from ingest.parsing import ParseContext
from ingest.secrets import scrub
from ingest.toolkit.build import describe_validation_error, looks_native


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
    return looks_native(record)
