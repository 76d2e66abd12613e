"""Reading finding changes for alerts (in chain order, resumable by seq) and the identities behind them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from contract.records import Finding
from store.store import Store

# first_seen comes from the findings table: a change row carries only its own (event) time.
# prev_severity / prev_status: the same finding's change before this one, so the notification
# policy can tell an escalation or a reopening from new evidence even when reading starts mid-history.
CHANGES_SQL = """
WITH h AS (
    SELECT *, lag(severity) OVER w AS prev_severity, lag(status) OVER w AS prev_status
    FROM finding_history
    WHERE finding_id IN (SELECT finding_id FROM finding_history WHERE seq > $after)
    WINDOW w AS (PARTITION BY finding_id ORDER BY seq)
)
SELECT h.seq, h.history_id, h.finding_id, h.activity, h.status, h.severity, h.detector, h.nhi, h.credential,
       h.task, h.time, h.reason, h.summary, h.evidence, h.details, coalesce(f.first_seen, h.time) AS first_seen,
       h.prev_severity, h.prev_status
FROM h
LEFT JOIN findings AS f USING (finding_id)
WHERE h.seq > $after
  AND ($since IS NULL OR h.time >= $since)
  AND ($until IS NULL OR h.time < $until)
ORDER BY h.seq
LIMIT $limit
"""

IDENTITIES_SQL = """
WITH placement AS (
    SELECT nhi, mode(context.namespace) AS namespace, mode(context.cluster) AS cluster
    FROM events WHERE list_contains($nhis, nhi) GROUP BY nhi
)
SELECT n.nhi, i.owner, i.owner_status, i.trust, p.namespace, p.cluster
FROM (SELECT unnest($nhis) AS nhi) AS n
LEFT JOIN identities AS i USING (nhi)
LEFT JOIN placement AS p USING (nhi)
"""


@dataclass(frozen=True, slots=True)
class StoredChange:
    seq: int
    history_id: str
    finding: Finding
    previous: tuple[str, str] | None = None  # (severity, status) of the finding's change before


@dataclass(frozen=True, slots=True)
class StoredIdentity:
    nhi: str
    owner: str | None
    owner_status: str | None
    trust: int | None
    namespace: str | None
    cluster: str | None


def _finding(r: Sequence[Any]) -> Finding:
    (
        _,
        _,
        fid,
        activity,
        status,
        severity,
        detector,
        nhi,
        cred,
        task,
        time,
        reason,
        summary,
        ev,
        details,
        first,
    ) = r[:16]
    return Finding(
        finding_id=fid,
        detector=detector,
        severity=severity,
        status=status,
        nhi=nhi,
        credential=cred,
        task=task,
        reason=reason,
        summary=summary,
        first_seen=min(first, time),
        last_seen=time,
        evidence=list(ev),
        activity=activity,
        resolved_at=time if activity == "close" else None,
        details=orjson.loads(details) if details else {},
    )


def finding_changes(
    store: Store,
    after_seq: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[StoredChange]:
    """Changes with seq > ``after_seq`` (and event time in [since, until)), in chain order."""
    rows = store.rows(CHANGES_SQL, {"after": after_seq, "since": since, "until": until, "limit": limit})
    return [
        StoredChange(int(r[0]), str(r[1]), _finding(r), None if r[16] is None else (str(r[16]), str(r[17])))
        for r in rows
    ]


def identities(store: Store, nhis: Iterable[str]) -> dict[str, StoredIdentity]:
    wanted = sorted(set(nhis))
    if not wanted:
        return {}
    rows = store.rows(IDENTITIES_SQL, {"nhis": wanted})
    return {str(r[0]): StoredIdentity(*r) for r in rows}
