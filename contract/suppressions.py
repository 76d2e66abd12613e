"""A suppression as evidence: who decided that a finding is not to be acted on, when, why, and
until when. Recorded only by an explicit command (``nhi suppress add``); a preview never writes.

The store keeps suppressions append-only, on their own hash chain: adding one is a row with
``action = "add"``, revoking it another row with ``action = "revoke"``. Nothing is ever updated,
so the history of every decision stays readable and tamper-evident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contract.changes import content_hash

Action = Literal["add", "revoke"]


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    suppression_id: str
    action: Action
    finding_id: str
    reason: str  # why it was added, or why it was revoked
    actor: str  # who
    recorded_at: datetime  # when
    expires: datetime | None = None  # until when (an add always has one; a revoke none)


def suppression_id(finding_id: str, actor: str, recorded_at: datetime) -> str:
    return "sup-" + content_hash(finding_id, actor, recorded_at.isoformat())[:16]


def in_force(rows: Iterable[SuppressionRow], at: datetime) -> dict[str, SuppressionRow]:
    """{finding_id: the add row} of the suppressions in force at ``at``: recorded at or before it,
    not expired (``expires`` after it) and not revoked at or before it. When several are in force
    for one finding, the one recorded first counts."""
    rows = list(rows)
    revoked = {r.suppression_id for r in rows if r.action == "revoke" and r.recorded_at <= at}
    found: dict[str, SuppressionRow] = {}
    for r in sorted(rows, key=lambda r: (r.recorded_at, r.suppression_id)):
        if (
            r.action == "add"
            and r.recorded_at <= at
            and r.expires is not None
            and r.expires > at
            and r.suppression_id not in revoked
        ):
            found.setdefault(r.finding_id, r)
    return found
