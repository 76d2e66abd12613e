"""Rows -> pyarrow tables, one column comprehension at a time.

The write path's cost is dominated by walking Python objects; building each column with a single
comprehension (instead of a dict per row) keeps it close to a raw orjson -> Arrow load.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import orjson
import pyarrow as pa

from contract.changes import change_time, content_hash, history_id
from contract.events import CONTEXT_FIELDS, Event
from contract.records import CredentialRow, Finding, IdentityRow, TaskRow, TrustChange
from contract.rejects import Reject

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
EVIDENCE = pa.list_(STR)


def last_per_key(table: pa.Table, keys: Sequence[Hashable]) -> pa.Table:
    """Keep the last row per key, in order.

    One INSERT ... ON CONFLICT DO UPDATE must not touch the same key twice, and the last change
    in a batch is the one that should win.
    """
    last = {k: i for i, k in enumerate(keys)}
    if len(last) == len(keys):
        return table
    return table.take(pa.array(sorted(last.values()), pa.int64()))


def _json(value: Any) -> str:
    # default=str: details/attrs are free-form; a stray Decimal or set must not fail the batch
    return orjson.dumps(value, default=str).decode()


# Scalar columns of ``events``, in table order; context and attrs need conversion and come after.
EVENT_SCALARS = pa.schema(
    [
        ("id", STR),
        ("type", STR),
        ("time", TS),
        ("nhi", STR),
        ("credential", STR),
        ("task", STR),
        ("owner", STR),
        ("source", STR),
        ("expires_at", TS),
        ("method", STR),
        ("attested", pa.bool_()),
        ("action", STR),
        ("resource", STR),
        ("outcome", STR),
        ("purpose", STR),
    ]
)
CONTEXT = pa.struct([(f, STR) for f in CONTEXT_FIELDS])


def events_table(events: Sequence[Event]) -> pa.Table:
    # Pydantic v2 keeps a model's field values in its __dict__; handing those dicts to Arrow's C
    # converter is measurably faster than one Python comprehension per column (~1.5x on 5k events).
    table = pa.Table.from_pylist([e.__dict__ for e in events], EVENT_SCALARS)
    context = pa.array([e.context.__dict__ for e in events], CONTEXT)
    attrs = pa.array([_json(e.attrs) if e.attrs else None for e in events], STR)
    return table.append_column("context", context).append_column("attrs", attrs)


def reject_id(r: Reject) -> str:
    return content_hash(r.raw, r.source, r.location or "")


def rejects_table(rejects: Sequence[Reject]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([reject_id(r) for r in rejects], STR),
            "raw": pa.array([r.raw for r in rejects], STR),
            "reason": pa.array([r.reason for r in rejects], STR),
            "source": pa.array([r.source for r in rejects], STR),
            "location": pa.array([r.location for r in rejects], STR),
            "received_at": pa.array([r.received_at for r in rejects], TS),
        }
    )


def findings_table(findings: Sequence[Finding]) -> pa.Table:
    """Every change, in order; the columns serve both ``findings`` and ``finding_history``."""
    details = [_json(f.details) for f in findings]
    return pa.table(
        {
            "history_id": pa.array([history_id(f, d) for f, d in zip(findings, details, strict=True)], STR),
            "finding_id": pa.array([f.finding_id for f in findings], STR),
            "activity": pa.array([f.activity for f in findings], STR),
            "detector": pa.array([f.detector for f in findings], STR),
            "severity": pa.array([f.severity for f in findings], STR),
            "status": pa.array([f.status for f in findings], STR),
            "nhi": pa.array([f.nhi for f in findings], STR),
            "credential": pa.array([f.credential for f in findings], STR),
            "task": pa.array([f.task for f in findings], STR),
            "reason": pa.array([f.reason for f in findings], STR),
            "summary": pa.array([f.summary for f in findings], STR),
            "first_seen": pa.array([f.first_seen for f in findings], TS),
            "last_seen": pa.array([f.last_seen for f in findings], TS),
            "resolved_at": pa.array([f.resolved_at for f in findings], TS),
            "time": pa.array([change_time(f) for f in findings], TS),
            "evidence": pa.array([f.evidence for f in findings], EVIDENCE),
            "details": pa.array(details, STR),
        }
    )


def trust_table(changes: Sequence[TrustChange]) -> pa.Table:
    return pa.table(
        {
            "nhi": pa.array([c.nhi for c in changes], STR),
            "time": pa.array([c.time for c in changes], TS),
            "score": pa.array([c.score for c in changes], pa.int32()),
            "previous": pa.array([c.previous for c in changes], pa.int32()),
            "factors": pa.array([_json([f.as_dict() for f in c.factors]) for c in changes], STR),
            "event_id": pa.array([c.event_id for c in changes], STR),
        }
    )


def identities_table(rows: Sequence[IdentityRow]) -> pa.Table:
    return pa.table(
        {
            "nhi": pa.array([r.nhi for r in rows], STR),
            "owner": pa.array([r.owner for r in rows], STR),
            "owner_status": pa.array([r.owner_status for r in rows], STR),
            "status": pa.array([r.status for r in rows], STR),
            "purpose": pa.array([r.purpose for r in rows], STR),
            "first_seen": pa.array([r.first_seen for r in rows], TS),
            "last_seen": pa.array([r.last_seen for r in rows], TS),
            "event_count": pa.array([r.event_count for r in rows], pa.int64()),
            "trust": pa.array([r.trust for r in rows], pa.int32()),
            "open_findings": pa.array([r.open_findings for r in rows], pa.int32()),
        }
    )


def credentials_table(rows: Sequence[CredentialRow]) -> pa.Table:
    return pa.table(
        {
            "credential": pa.array([r.credential for r in rows], STR),
            "nhi": pa.array([r.nhi for r in rows], STR),
            "method": pa.array([r.method for r in rows], STR),
            "task": pa.array([r.task for r in rows], STR),
            "attested": pa.array([r.attested for r in rows], pa.bool_()),
            "issued_at": pa.array([r.issued_at for r in rows], TS),
            "expires_at": pa.array([r.expires_at for r in rows], TS),
            "revoked_at": pa.array([r.revoked_at for r in rows], TS),
            "first_used": pa.array([r.first_used for r in rows], TS),
            "last_used": pa.array([r.last_used for r in rows], TS),
            "use_count": pa.array([r.use_count for r in rows], pa.int64()),
        }
    )


def tasks_table(rows: Sequence[TaskRow]) -> pa.Table:
    return pa.table(
        {
            "task": pa.array([r.task for r in rows], STR),
            "nhi": pa.array([r.nhi for r in rows], STR),
            "started_at": pa.array([r.started_at for r in rows], TS),
            "ended_at": pa.array([r.ended_at for r in rows], TS),
        }
    )


def engine_state_table(state: dict[str, bytes]) -> pa.Table:
    return pa.table(
        {"name": pa.array(list(state), STR), "state": pa.array(list(state.values()), pa.binary())}
    )


def offsets_table(offsets: dict[tuple[str, str, int], int]) -> pa.Table:
    keys = list(offsets)
    return pa.table(
        {
            "grp": pa.array([k[0] for k in keys], STR),
            "topic": pa.array([k[1] for k in keys], STR),
            "partition": pa.array([k[2] for k in keys], pa.int32()),
            "next_offset": pa.array(list(offsets.values()), pa.int64()),
        }
    )


def ids_table(ids: Sequence[str]) -> pa.Table:
    return pa.table({"id": pa.array(ids, STR)})
