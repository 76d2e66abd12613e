"""Reading the evidence behind findings: the events a finding cites, a finding's history, and the
identity's latest trust factors. Used by the alerts (observables) and ``nhi explain``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from store.store import Store

EVENTS_SQL = """
SELECT id, time, type, nhi, credential, task, action, resource, outcome, source, method, attested,
       context.ip, context.node, context.pod_uid, context.namespace, context.cluster, context.user_agent
FROM events WHERE list_contains($ids, id)
ORDER BY time, id
"""

FINDING_SQL = """
SELECT finding_id FROM findings WHERE finding_id = $q OR starts_with(finding_id, $q) ORDER BY finding_id LIMIT 5
"""

HISTORY_SQL = """
SELECT seq, history_id, time, activity, status, severity, reason, summary, evidence, details
FROM finding_history WHERE finding_id = $fid ORDER BY seq
"""

IDENTITY_SQL = """
SELECT nhi, owner, owner_status, status, purpose, trust, open_findings, first_seen, last_seen, event_count
FROM identities WHERE nhi = $nhi
"""

TRUST_SQL = """
SELECT time, score, previous, factors, event_id FROM trust_scores
WHERE nhi = $nhi ORDER BY time DESC, seq DESC LIMIT $limit
"""


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One stored event a finding cites, with what an analyst pivots on."""

    id: str
    time: datetime
    type: str
    nhi: str | None = None
    credential: str | None = None
    task: str | None = None
    action: str | None = None
    resource: str | None = None
    outcome: str | None = None
    source: str | None = None
    method: str | None = None
    attested: bool = False
    ip: str | None = None
    node: str | None = None
    pod_uid: str | None = None
    namespace: str | None = None
    cluster: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    seq: int
    history_id: str
    time: datetime
    activity: str
    status: str
    severity: str
    reason: str
    summary: str
    evidence: tuple[str, ...]
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrustRow:
    time: datetime
    score: int
    previous: int | None
    factors: list[dict[str, Any]]
    event_id: str


def evidence_events(store: Store, ids: Iterable[str]) -> dict[str, EvidenceEvent]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {str(r[0]): EvidenceEvent(*r) for r in store.rows(EVENTS_SQL, {"ids": wanted})}


def find_finding(store: Store, query: str) -> list[str]:
    """Finding ids equal to ``query`` or starting with it (at most 5), for unique-prefix lookup."""
    return [str(r[0]) for r in store.rows(FINDING_SQL, {"q": query})]


def finding_history(store: Store, finding_id: str) -> list[HistoryRow]:
    return [
        HistoryRow(
            int(r[0]),
            str(r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            tuple(r[8]),
            orjson.loads(r[9]) if r[9] else {},
        )
        for r in store.rows(HISTORY_SQL, {"fid": finding_id})
    ]


def identity_row(store: Store, nhi: str) -> dict[str, Any] | None:
    rows = store.rows(IDENTITY_SQL, {"nhi": nhi})
    if not rows:
        return None
    keys = ("nhi", "owner", "owner_status", "status", "purpose", "trust", "open_findings", "first_seen",
            "last_seen", "event_count")  # fmt: skip
    return dict(zip(keys, rows[0], strict=True))


def trust_history(store: Store, nhi: str, limit: int = 50) -> list[TrustRow]:
    """The identity's trust changes, newest first."""
    return [
        TrustRow(r[0], int(r[1]), None if r[2] is None else int(r[2]), orjson.loads(r[3]), str(r[4]))
        for r in store.rows(TRUST_SQL, {"nhi": nhi, "limit": limit})
    ]
