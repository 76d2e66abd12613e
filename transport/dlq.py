"""The dead-letter queue's record layout: the raw record (secrets fingerprinted) as the value,
why and where it was refused in headers. The producer writes it; the sink turns it back into a
rejects row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contract.rejects import Reject
from ingest.secrets import scrub_text

H_REASON = "nhi-error-reason"
H_SOURCE = "nhi-error-source"
H_LOCATION = "nhi-error-location"

Headers = list[tuple[str, bytes]]


def dlq_headers(r: Reject, fingerprint_key: str) -> Headers:
    # The reason can quote a value of the record (pydantic's "got ..."): scrub it like the raw text.
    headers = [(H_REASON, scrub_text(r.reason, fingerprint_key).encode()), (H_SOURCE, r.source.encode())]
    if r.location is not None:
        headers.append((H_LOCATION, r.location.encode()))
    return headers


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None


def received_at(record: Any) -> datetime:
    # The broker timestamp: deterministic across re-deliveries, unlike "now".
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def reject_from_dlq(record: Any, fallback_location: str) -> Reject:
    """A DLQ record back into the reject the collector made."""
    return Reject(
        raw=(record.value or b"").decode("utf-8", "replace"),  # scrubbed by the collector already
        reason=header(record, H_REASON) or "rejected by a collector (no reason header)",
        source=header(record, H_SOURCE) or "unknown",
        location=header(record, H_LOCATION) or fallback_location,
        received_at=received_at(record),
    )
