"""What the report needs for triage: the findings in the range with their summaries, and a section
per identity (owner, trust factors with deltas and evidence, a timeline of its events, finding
changes and trust changes). The SQL is written into the package's sql/ like the rest.

Sections go to every identity with a finding change in the range and to the ten lowest trust
scores. Timelines are capped per identity (the newest events, finding changes and trust changes of
each kind), and say how many rows they left out: ``nhi query --named identity-timeline`` has all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from store.readonly import run_query

CAPS = {"event": 40, "finding": 40, "trust": 20, "evidence": 20}

_CHOSEN = """chosen AS (
    SELECT DISTINCT nhi FROM finding_history WHERE time >= :from AND time < :to
    UNION
    SELECT nhi FROM (SELECT nhi FROM identities ORDER BY trust, open_findings DESC, nhi LIMIT 10)
)"""

SQL: dict[str, str] = {
    "findings_in_range": """
-- Every finding with a change in [:from, :to): its current state and summary (report: findings table).
SELECT f.finding_id, f.detector, f.reason, f.severity, f.status, f.nhi, f.summary, f.first_seen, f.last_seen
FROM findings AS f
WHERE f.finding_id IN (SELECT finding_id FROM finding_history WHERE time >= :from AND time < :to)
ORDER BY f.status = 'resolved', CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
         f.last_seen DESC, f.finding_id""",
    "identity_sections": f"""
-- The identities the report gives a section (a finding in the range, or among the ten lowest trust
-- scores), with the factors of their latest trust score.
WITH {_CHOSEN}, latest AS (
    SELECT nhi, factors FROM trust_scores WHERE nhi IN (SELECT nhi FROM chosen)
    QUALIFY row_number() OVER (PARTITION BY nhi ORDER BY time DESC, seq DESC) = 1
)
SELECT i.nhi, i.owner, i.owner_status, i.status, i.purpose, i.trust, i.open_findings, i.first_seen,
       i.last_seen, i.event_count, l.factors
FROM identities AS i JOIN chosen USING (nhi) LEFT JOIN latest AS l USING (nhi)
ORDER BY i.trust, i.open_findings DESC, i.nhi""",
    "identity_timelines": f"""
-- Each chosen identity's events, finding changes and trust changes in the range: the newest
-- {CAPS["event"]} events, {CAPS["finding"]} finding changes and {CAPS["trust"]} trust changes, with how many there were;
-- plus the events the current trust factors cite (kind evidence), wherever they fall.
WITH {_CHOSEN}, latest AS (
    SELECT nhi, factors FROM trust_scores WHERE nhi IN (SELECT nhi FROM chosen)
    QUALIFY row_number() OVER (PARTITION BY nhi ORDER BY time DESC, seq DESC) = 1
), factor AS (
    SELECT nhi, unnest(from_json(factors, '[{{"evidence": ["VARCHAR"]}}]')) AS f FROM latest
), cited AS (
    SELECT DISTINCT nhi, unnest(f.evidence) AS id FROM factor
), timeline AS (
    SELECT e.nhi, e.time, 'event' AS kind,
           concat_ws(' ', e.type, e.action, e.resource, e.outcome, 'from ' || e.context.ip) AS what, e.id AS ref
    FROM events AS e WHERE e.nhi IN (SELECT nhi FROM chosen) AND e.time >= :from AND e.time < :to
    UNION ALL
    SELECT h.nhi, h.time, 'finding', h.activity || ' ' || h.severity || ' ' || h.detector || ': ' || h.summary,
           h.finding_id
    FROM finding_history AS h WHERE h.nhi IN (SELECT nhi FROM chosen) AND h.time >= :from AND h.time < :to
    UNION ALL
    SELECT t.nhi, t.time, 'trust', 'trust ' || coalesce(CAST(t.previous AS VARCHAR), 'new') || ' -> ' || t.score,
           t.event_id
    FROM trust_scores AS t WHERE t.nhi IN (SELECT nhi FROM chosen) AND t.time >= :from AND t.time < :to
    UNION ALL
    SELECT c.nhi, e.time, 'evidence', concat_ws(' ', e.type, e.action, e.resource, e.outcome, 'from ' || e.context.ip), e.id
    FROM cited AS c JOIN events AS e ON e.id = c.id
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY nhi, kind ORDER BY time DESC, ref) AS n,
           count(*) OVER (PARTITION BY nhi, kind) AS total
    FROM timeline
)
SELECT nhi, time, kind, what, ref, total FROM ranked
WHERE n <= CASE kind WHEN 'event' THEN {CAPS["event"]} WHEN 'finding' THEN {CAPS["finding"]}
                     WHEN 'trust' THEN {CAPS["trust"]} ELSE {CAPS["evidence"]} END
ORDER BY nhi, time, CASE kind WHEN 'event' THEN 0 WHEN 'evidence' THEN 0 WHEN 'finding' THEN 1 ELSE 2 END, ref""",
}


@dataclass(frozen=True, slots=True)
class TimelineRow:
    time: datetime
    kind: str  # event | finding | trust
    what: str
    ref: str  # event id, finding id, or the event that changed the trust
    cited: bool = False  # an event the current trust factors cite (shown even when older than the cap)


@dataclass(slots=True)
class IdentitySection:
    nhi: str
    owner: str | None
    owner_status: str
    status: str
    purpose: str | None
    trust: int
    open_findings: int
    first_seen: datetime
    last_seen: datetime
    event_count: int
    factors: list[dict[str, Any]]
    timeline: list[TimelineRow] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # kind -> rows beyond the cap


@dataclass(frozen=True, slots=True)
class Triage:
    findings: list[dict[str, Any]]
    identities: list[IdentitySection]


def load_triage(db: str, params: dict[str, object]) -> Triage:
    def rows(name: str) -> list[dict[str, Any]]:
        result = run_query(db, SQL[name], params)
        return [dict(zip(result.columns, r, strict=True)) for r in result.rows]

    sections: dict[str, IdentitySection] = {}
    for r in rows("identity_sections"):
        factors = orjson.loads(r.pop("factors")) if r.get("factors") else []
        sections[r["nhi"]] = IdentitySection(**r, factors=factors)
    totals: dict[tuple[str, str], int] = {}
    timeline = rows("identity_timelines")
    shown_events = {(r["nhi"], r["ref"]) for r in timeline if r["kind"] == "event"}
    for r in timeline:
        s = sections.get(r["nhi"])
        if s is None:
            continue
        if r["kind"] == "evidence":
            # an event the trust factors cite: shown once, as an event, even when older than the cap
            if (r["nhi"], r["ref"]) in shown_events:
                continue
            shown_events.add((r["nhi"], r["ref"]))
            s.timeline.append(TimelineRow(r["time"], "event", r["what"], r["ref"], cited=True))
            continue
        totals[(r["nhi"], r["kind"])] = int(r["total"])
        s.timeline.append(TimelineRow(r["time"], r["kind"], r["what"], r["ref"]))
    for (nhi, kind), total in totals.items():
        shown = sum(1 for t in sections[nhi].timeline if t.kind == kind and not t.cited)
        if total > shown:
            sections[nhi].left_out[kind] = total - shown
    return Triage(rows("findings_in_range"), list(sections.values()))
