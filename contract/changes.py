"""Deterministic ids of findings and of their changes.

The engine names a finding by its cause; the store and the alerts name each change of it by its
content. Both are hashes, so the same input always gives the same ids, on replay and on Kafka.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from contract.records import Finding


def finding_id(detector: str, nhi: str, *key: str | None) -> str:
    """The same cause on the same input always gets the same id."""
    raw = "\x1f".join([detector, nhi, *(k or "" for k in key)])
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def content_hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def change_time(f: Finding) -> datetime:
    """When a finding change happened in event time: a close at its resolution, else its last evidence."""
    if f.activity == "close" and f.resolved_at is not None:
        return f.resolved_at
    return f.last_seen


def history_id(f: Finding, details: str) -> str:
    """The id of one change of a finding (``details`` is its JSON text): re-writing it is a no-op."""
    return content_hash(
        f.finding_id,
        f.activity,
        f.status,
        f.severity,
        change_time(f).isoformat(),
        f.summary,
        f.reason,
        details,
        "\x1e".join(f.evidence),
    )
