"""The write path: one Batch -> Arrow tables -> set-based INSERTs inside one transaction.

Append-only tables use ON CONFLICT DO NOTHING on their natural key, so replaying input is a
no-op; state tables are upserts of the latest row per key.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from store import chain
from store import columns as C
from store.batch import Batch
from store.schema import TS

_EVENTS = """
INSERT INTO events BY NAME
SELECT *, $ingested_at::TIMESTAMPTZ AS ingested_at FROM _b_events
ON CONFLICT DO NOTHING
"""

_REJECTS = "INSERT INTO rejects BY NAME SELECT * FROM _b_rejects ON CONFLICT DO NOTHING"

# The chained tables get only rows that are new (store.chain.link_new_rows filters and links them
# inside the transaction), so a plain INSERT: a conflict here would mean a broken chain, not a replay.
_TRUST = "INSERT INTO trust_scores BY NAME SELECT * FROM _b_trust"

_HISTORY = """
INSERT INTO finding_history BY NAME
SELECT history_id, finding_id, activity, status, severity, detector, nhi, credential, task, time, reason,
       summary, evidence, details, recorded_at, seq, prev_hash, hash
FROM _b_history
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
    open_findings = excluded.open_findings, kind = excluded.kind, kind_evidence = excluded.kind_evidence,
    human_use = excluded.human_use, owner_source = excluded.owner_source, managed_by = excluded.managed_by,
    scope = excluded.scope, scope_inventoried = excluded.scope_inventoried
"""

_ALIASES = "INSERT INTO identity_aliases BY NAME SELECT * FROM _b_aliases ON CONFLICT DO NOTHING"
# Per input: a re-run of the same file sets the same counts.
_SKIPPED = """
INSERT INTO skipped BY NAME SELECT *, $now::TIMESTAMPTZ AS updated_at FROM _b_skipped
ON CONFLICT (origin, source, reason) DO UPDATE SET records = excluded.records, updated_at = excluded.updated_at
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


@dataclass(frozen=True, slots=True)
class Step:
    """One set-based INSERT of one registered Arrow table."""

    view: str
    table: pa.Table
    sql: str
    params: dict[str, object]
    counts_as: str | None = None  # the WriteStats field its inserted-row count goes to
    # Turns the table into what is inserted, inside the transaction (the hash chain needs the
    # stored head and the already-stored keys, which only the open transaction can see).
    prepare: Callable[[duckdb.DuckDBPyConnection, pa.Table], pa.Table] | None = None


def _link_history(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    return chain.link_new_rows(con, chain.FINDINGS, table)


def _link_trust(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    return chain.link_new_rows(con, chain.TRUST, table)


def plan_batch(batch: Batch) -> list[Step]:
    """Every Arrow table of ``batch``, built before the transaction opens so bad data never half-writes."""
    now: dict[str, object] = {"now": datetime.now(UTC)}
    steps: list[Step] = []
    if batch.events:
        params: dict[str, object] = {"ingested_at": batch.ingested_at}
        steps.append(Step("_b_events", C.events_table(batch.events), _EVENTS, params, "events"))
        aliases = C.aliases_table(batch.events)
        if len(aliases):
            steps.append(Step("_b_aliases", aliases, _ALIASES, {}))
    if batch.rejects:
        steps.append(Step("_b_rejects", C.rejects_table(batch.rejects), _REJECTS, {}, "rejects"))
    if batch.skipped:
        steps.append(Step("_b_skipped", C.skipped_table(batch.skipped), _SKIPPED, now))
    if batch.findings:
        changes = C.findings_table(batch.findings)
        latest = C.last_per_key(changes, [f.finding_id for f in batch.findings])
        # recorded_at is a column (not a SQL parameter) because the chain hashes it
        recorded = changes.append_column("recorded_at", pa.array([now["now"]] * len(changes), TS))
        steps.append(Step("_b_history", recorded, _HISTORY, {}, "finding_changes", _link_history))
        steps.append(Step("_b_findings", latest, _FINDINGS, now))
    if batch.trust:
        table = C.last_per_key(C.trust_table(batch.trust), [(t.nhi, t.event_id) for t in batch.trust])
        steps.append(Step("_b_trust", table, _TRUST, {}, "trust_changes", _link_trust))
    snap = batch.snapshots
    if snap.identities:
        table = C.last_per_key(C.identities_table(snap.identities), [r.nhi for r in snap.identities])
        steps.append(Step("_b_identities", table, _IDENTITIES, {}))
    if snap.credentials:
        keys = [(r.credential, r.nhi) for r in snap.credentials]
        table = C.last_per_key(C.credentials_table(snap.credentials), keys)
        steps.append(Step("_b_credentials", table, _CREDENTIALS, {}))
    if snap.tasks:
        table = C.last_per_key(C.tasks_table(snap.tasks), [(r.task, r.nhi) for r in snap.tasks])
        steps.append(Step("_b_tasks", table, _TASKS, {}))
    if batch.engine_state:
        steps.append(Step("_b_engine_state", C.engine_state_table(batch.engine_state), _ENGINE_STATE, now))
    if batch.offsets:
        steps.append(Step("_b_offsets", C.offsets_table(batch.offsets), _OFFSETS, now))
    return steps


def run_steps(con: duckdb.DuckDBPyConnection, steps: list[Step]) -> WriteStats:
    """Execute ``steps`` on ``con``; the caller owns the transaction."""
    inserted: dict[str, int] = {}
    for step in steps:
        table = step.prepare(con, step.table) if step.prepare is not None else step.table
        if step.prepare is not None and not len(table):
            inserted[step.counts_as or ""] = 0
            continue
        con.register(step.view, table)
        # Not in a finally: after a failed statement the transaction is aborted and unregister
        # would fail too, hiding the real error. Store.write drops the views after its rollback.
        row = con.execute(step.sql, step.params).fetchone()
        con.unregister(step.view)
        if step.counts_as:
            inserted[step.counts_as] = int(row[0]) if row else 0
    inserted.pop("", None)
    return WriteStats(**inserted)


def drop_views(con: duckdb.DuckDBPyConnection, steps: list[Step]) -> None:
    """Unregister what a failed run_steps left behind (after the rollback)."""
    for step in steps:
        with suppress(duckdb.Error):
            con.unregister(step.view)
