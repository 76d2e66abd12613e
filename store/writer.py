"""The write path: one Batch -> Arrow tables -> set-based INSERTs inside one transaction.

Append-only tables use ON CONFLICT DO NOTHING on their natural key, so replaying input is a
no-op; state tables are upserts of the latest row per key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from store import columns as C
from store.batch import Batch

_EVENTS = """
INSERT INTO events BY NAME
SELECT *, $ingested_at::TIMESTAMPTZ AS ingested_at FROM _b_events
ON CONFLICT DO NOTHING
"""

_REJECTS = "INSERT INTO rejects BY NAME SELECT * FROM _b_rejects ON CONFLICT DO NOTHING"

_TRUST = "INSERT INTO trust_scores BY NAME SELECT * FROM _b_trust ON CONFLICT DO NOTHING"

_HISTORY = """
INSERT INTO finding_history BY NAME
SELECT history_id, finding_id, activity, status, severity, detector, nhi, credential, task, time, reason,
       summary, evidence, details, $now::TIMESTAMPTZ AS recorded_at
FROM _b_history
ON CONFLICT DO NOTHING
"""

# first_seen is deliberately absent from SET: a finding keeps the time it was first raised.
_FINDINGS = """
INSERT INTO findings BY NAME
SELECT finding_id, detector, severity, status, nhi, credential, task, reason, summary, first_seen,
       last_seen, resolved_at, evidence, details, $now::TIMESTAMPTZ AS updated_at
FROM _b_findings
ON CONFLICT (finding_id) DO UPDATE SET
    severity = excluded.severity, status = excluded.status, credential = excluded.credential,
    task = excluded.task, reason = excluded.reason, summary = excluded.summary,
    last_seen = excluded.last_seen, resolved_at = excluded.resolved_at, evidence = excluded.evidence,
    details = excluded.details, updated_at = excluded.updated_at
"""

# The engine's snapshot is authoritative, except that an identity seen earlier keeps that time.
_IDENTITIES = """
INSERT INTO identities BY NAME SELECT * FROM _b_identities
ON CONFLICT (nhi) DO UPDATE SET
    owner = excluded.owner, owner_status = excluded.owner_status, status = excluded.status,
    purpose = excluded.purpose, first_seen = least(identities.first_seen, excluded.first_seen),
    last_seen = excluded.last_seen, event_count = excluded.event_count, trust = excluded.trust,
    open_findings = excluded.open_findings
"""

_CREDENTIALS = "INSERT OR REPLACE INTO credentials BY NAME SELECT * FROM _b_credentials"
_TASKS = "INSERT OR REPLACE INTO tasks BY NAME SELECT * FROM _b_tasks"
_ENGINE_STATE = "INSERT OR REPLACE INTO engine_state BY NAME SELECT *, $now::TIMESTAMPTZ AS updated_at FROM _b_engine_state"
_OFFSETS = (
    "INSERT OR REPLACE INTO kafka_offsets BY NAME SELECT *, $now::TIMESTAMPTZ AS updated_at FROM _b_offsets"
)


@dataclass(frozen=True, slots=True)
class WriteStats:
    """Rows actually inserted (new ones only) by one write."""

    events: int = 0
    rejects: int = 0
    finding_changes: int = 0
    trust_changes: int = 0


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def _run(
    con: duckdb.DuckDBPyConnection,
    name: str,
    table: pa.Table,
    sql: str,
    params: dict[str, object] | None = None,
) -> int:
    with _registered(con, name, table):
        row = con.execute(sql, params or {}).fetchone()
    return int(row[0]) if row else 0


def write_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> WriteStats:
    """Write ``batch`` on ``con``; the caller owns the transaction."""
    now: dict[str, object] = {"now": datetime.now(UTC)}
    events = rejects = changes = trust = 0
    if batch.events:
        table = C.events_table(batch.events)
        events = _run(con, "_b_events", table, _EVENTS, {"ingested_at": batch.ingested_at})
    if batch.rejects:
        rejects = _run(con, "_b_rejects", C.rejects_table(batch.rejects), _REJECTS)
    if batch.findings:
        table = C.findings_table(batch.findings)
        changes = _run(con, "_b_history", table, _HISTORY, now)
        latest = C.last_per_key(table, [f.finding_id for f in batch.findings])
        _run(con, "_b_findings", latest, _FINDINGS, now)
    if batch.trust:
        table = C.last_per_key(C.trust_table(batch.trust), [(t.nhi, t.event_id) for t in batch.trust])
        trust = _run(con, "_b_trust", table, _TRUST)
    snap = batch.snapshots
    if snap.identities:
        table = C.last_per_key(C.identities_table(snap.identities), [r.nhi for r in snap.identities])
        _run(con, "_b_identities", table, _IDENTITIES)
    if snap.credentials:
        keys = [(r.credential, r.nhi) for r in snap.credentials]
        _run(con, "_b_credentials", C.last_per_key(C.credentials_table(snap.credentials), keys), _CREDENTIALS)
    if snap.tasks:
        keys = [(r.task, r.nhi) for r in snap.tasks]
        _run(con, "_b_tasks", C.last_per_key(C.tasks_table(snap.tasks), keys), _TASKS)
    if batch.engine_state:
        _run(con, "_b_engine_state", C.engine_state_table(batch.engine_state), _ENGINE_STATE, now)
    if batch.offsets:
        _run(con, "_b_offsets", C.offsets_table(batch.offsets), _OFFSETS, now)
    return WriteStats(events=events, rejects=rejects, finding_changes=changes, trust_changes=trust)
