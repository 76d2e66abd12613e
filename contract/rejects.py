"""A record that could not become canonical events, kept with its reason and location."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(slots=True)
class Reject:
    raw: str  # the record as received, with secrets already replaced by fingerprints
    reason: str
    source: str  # the format / collector that refused it
    location: str | None  # file:line, topic/partition@offset, or "stdin:line"
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
