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
from contract.identity import ALIASES
from contract.records import CredentialRow, Finding, IdentityRow, TaskRow, TrustChange
from contract.rejects import Reject
from store.schema import STR, TS, event_scalars, rows_table

# Fields of a row type that are not stored as they are (JSON text, built below).
_FINDING_NOT_COLUMNS = frozenset({"details"})
_TRUST_NOT_COLUMNS = frozenset({"factors"})


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


# Scalar columns of ``events``: the contract's fields, less the two that need converting.
EVENT_SCALARS = event_scalars()
CONTEXT = pa.struct([(f, STR) for f in CONTEXT_FIELDS])


def events_table(events: Sequence[Event]) -> pa.Table:
    # Pydantic v2 keeps a model's field values in its __dict__; handing those dicts to Arrow's C
    # converter is measurably faster than one Python comprehension per column (~1.5x on 5k events).
    table = pa.Table.from_pylist([e.__dict__ for e in events], EVENT_SCALARS)
    context = pa.array([e.context.__dict__ for e in events], CONTEXT)
    attrs = pa.array([_json(e.attrs) if e.attrs else None for e in events], STR)
    return table.append_column("context", context).append_column("attrs", attrs)


def aliases_table(events: Sequence[Event]) -> pa.Table:
    """The other names of identities that events carry (``attrs.aliases``), first sighting first."""
    rows: dict[str, tuple[str, str, str, object]] = {}
    for e in events:
        attrs = e.attrs
        if not attrs or not e.nhi:
            continue
        names = attrs.get(ALIASES)
        if not isinstance(names, list):
            continue
        for alias in names:
            if isinstance(alias, str) and alias and alias != e.nhi and alias not in rows:
                rows[alias] = (e.nhi, e.source, e.id, e.time)
    return pa.table(
        {
            "alias": pa.array(list(rows), STR),
            "nhi": pa.array([r[0] for r in rows.values()], STR),
            "source": pa.array([r[1] for r in rows.values()], STR),
            "evidence": pa.array([r[2] for r in rows.values()], STR),
            "first_seen": pa.array([r[3] for r in rows.values()], TS),
        }
    )


def skipped_table(skipped: dict[tuple[str, str, str], int]) -> pa.Table:
    keys = list(skipped)
    return pa.table(
        {
            "origin": pa.array([k[0] for k in keys], STR),
            "source": pa.array([k[1] for k in keys], STR),
            "reason": pa.array([k[2] for k in keys], STR),
            "records": pa.array(list(skipped.values()), pa.int64()),
        }
    )


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
    return (
        rows_table(findings, Finding, _FINDING_NOT_COLUMNS)
        .append_column("details", pa.array(details, STR))
        .append_column("time", pa.array([change_time(f) for f in findings], TS))
        .append_column(
            "history_id", pa.array([history_id(f, d) for f, d in zip(findings, details, strict=True)], STR)
        )
    )


def trust_table(changes: Sequence[TrustChange]) -> pa.Table:
    factors = [_json([f.as_dict() for f in c.factors]) for c in changes]
    return rows_table(changes, TrustChange, _TRUST_NOT_COLUMNS).append_column(
        "factors", pa.array(factors, STR)
    )


def identities_table(rows: Sequence[IdentityRow]) -> pa.Table:
    return rows_table(rows, IdentityRow)


def credentials_table(rows: Sequence[CredentialRow]) -> pa.Table:
    return rows_table(rows, CredentialRow)


def tasks_table(rows: Sequence[TaskRow]) -> pa.Table:
    return rows_table(rows, TaskRow)


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
