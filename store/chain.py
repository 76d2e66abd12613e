"""Hash chains over finding_history, trust_scores and suppressions: tamper evidence for the stored evidence.

One chain per table, in insertion order. Each row gets ``seq`` (1, 2, ... with no gaps),
``prev_hash`` (the hash of the row before it, or GENESIS) and
``hash = sha256(prev_hash + "\\n" + canonical(row content incl. seq))``. The last link is also
kept in ``chain_heads``, so deleting the newest rows is detected too.

Why per table rather than per NHI: a DuckDB file has one writer, so a single global order costs
nothing, and it makes a deleted row of any identity show up as a gap in one sequence that a
package manifest can pin with one head hash.

The links are computed in Python inside the write transaction (``link_new_rows``), from the same
Arrow values that are inserted; ``verify`` recomputes them from the Arrow values read back, so
both sides hash identical canonical forms.

``# pragma: no mutate`` marks lines whose mutants can't change behaviour (make mutate): an Arrow
type that inference gives anyway, the case of a DuckDB name or parameter (DuckDB ignores it), a
chunk size, ``zip(strict=True)`` over rows and their own column names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Chain:
    name: str  # the chain_heads key
    table: str
    key: tuple[str, ...]  # natural key: how a broken row is named in reports
    content: tuple[str, ...]  # hashed columns, in this order (seq is appended)


FINDINGS = Chain(
    "findings",
    "finding_history",
    ("history_id",),
    (
        "history_id", "finding_id", "activity", "status", "severity", "detector", "nhi", "credential", "task",
        "time", "reason", "summary", "evidence", "details", "recorded_at",
    ),
)  # fmt: skip
TRUST = Chain(
    "trust", "trust_scores", ("nhi", "event_id"), ("nhi", "time", "score", "previous", "factors", "event_id")
)
SUPPRESSIONS = Chain(
    "suppressions",
    "suppressions",
    ("suppression_id", "action"),
    ("suppression_id", "action", "finding_id", "reason", "actor", "recorded_at", "expires"),
)
CHAINS = (FINDINGS, TRUST, SUPPRESSIONS)


def _plain(value: Any) -> Any:
    """A JSON-stable form: instants as integer microseconds since the epoch (zone-free)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _US
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def link_hash(chain: Chain, prev_hash: str, row: dict[str, Any], seq: int) -> str:
    content = [_plain(row.get(c)) for c in chain.content]
    content.append(seq)
    return hashlib.sha256(prev_hash.encode() + b"\n" + orjson.dumps(content)).hexdigest()


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, size: int = 10_000) -> Iterator[dict[str, Any]]:
    """Rows as dicts, a chunk at a time (a chain can be long). The values are DuckDB's Python
    conversions, which canonicalise exactly like Arrow's (see _plain)."""
    result = con.execute(sql)
    names = [d[0] for d in result.description or []]
    while chunk := result.fetchmany(size):
        for values in chunk:
            yield dict(zip(names, values, strict=True))  # pragma: no mutate


def head(con: duckdb.DuckDBPyConnection, chain: Chain) -> tuple[int, str]:
    """(last seq, last hash) of ``chain``; (0, GENESIS) when it has no rows yet."""
    # fetchall, not fetchone: DuckDB 2 refuses further work on a connection with a half-read result
    rows = con.execute("SELECT seq, hash FROM chain_heads WHERE chain = $c", {"c": chain.name}).fetchall()
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)


def _set_head(con: duckdb.DuckDBPyConnection, chain: Chain, seq: int, digest: str) -> None:
    con.execute(
        "INSERT OR REPLACE INTO chain_heads VALUES ($c, $s, $h, $t)",
        {"c": chain.name, "s": seq, "h": digest, "t": datetime.now(UTC)},  # pragma: no mutate
    )


def _stored_keys(con: duckdb.DuckDBPyConnection, chain: Chain, table: pa.Table) -> set[tuple[Any, ...]]:
    """Keys of ``table`` that are already in the chained table (a replay writes nothing new)."""
    keys = table.select(list(chain.key))
    con.register("_chain_keys", keys)  # pragma: no mutate
    try:
        on = " AND ".join(f"k.{c} = t.{c}" for c in chain.key)
        cols = ", ".join(f"k.{c}" for c in chain.key)
        found = con.execute(
            f"SELECT {cols} FROM _chain_keys AS k SEMI JOIN {chain.table} AS t ON {on}"
        ).fetchall()
    finally:
        con.unregister("_chain_keys")  # pragma: no mutate
    return {tuple(r) for r in found}


def link_new_rows(con: duckdb.DuckDBPyConnection, chain: Chain, table: pa.Table) -> pa.Table:
    """The rows of ``table`` not stored yet (first of each key), with seq, prev_hash and hash added.

    Runs inside the caller's write transaction and moves the chain head with it, so the rows and
    their links commit together or not at all.
    """
    stored = _stored_keys(con, chain, table)
    rows = table.to_pylist()
    keep: list[int] = []
    seen: set[tuple[Any, ...]] = set(stored)
    for i, row in enumerate(rows):
        key = tuple(row[c] for c in chain.key)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    fresh = table.take(pa.array(keep, pa.int64())) if len(keep) != len(rows) else table
    seq, prev = head(con, chain)
    seqs: list[int] = []
    prevs: list[str] = []
    hashes: list[str] = []
    for i in keep:
        seq += 1
        digest = link_hash(chain, prev, rows[i], seq)
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    if keep:
        _set_head(con, chain, seq, prev)
    return (
        fresh.append_column("seq", pa.array(seqs, pa.int64()))  # pragma: no mutate
        .append_column("prev_hash", pa.array(prevs, pa.string()))  # pragma: no mutate
        .append_column("hash", pa.array(hashes, pa.string()))  # pragma: no mutate
    )


def adopt(con: duckdb.DuckDBPyConnection) -> int:
    """Link rows stored before the chain existed (seq NULL), in their storage order.

    Called once, right after migration 0002, inside its own transaction. Returns rows linked.
    """
    linked = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for chain in CHAINS:
            seq, prev = head(con, chain)
            cols = ", ".join(chain.content)
            updates: list[tuple[int, int, str, str]] = []
            sql = f"SELECT rowid AS _rowid, {cols} FROM {chain.table} WHERE seq IS NULL ORDER BY rowid"
            for row in _dicts(con, sql):
                seq += 1
                digest = link_hash(chain, prev, row, seq)
                updates.append((row["_rowid"], seq, prev, digest))
                prev = digest
            if updates:
                con.register(
                    "_chain_links",  # pragma: no mutate
                    pa.table(
                        {
                            "rid": pa.array([u[0] for u in updates], pa.int64()),  # pragma: no mutate
                            "seq": pa.array([u[1] for u in updates], pa.int64()),  # pragma: no mutate
                            "prev_hash": pa.array([u[2] for u in updates], pa.string()),  # pragma: no mutate
                            "hash": pa.array([u[3] for u in updates], pa.string()),  # pragma: no mutate
                        }
                    ),
                )
                con.execute(
                    f"UPDATE {chain.table} SET seq = l.seq, prev_hash = l.prev_hash, hash = l.hash "
                    f"FROM _chain_links AS l WHERE {chain.table}.rowid = l.rid"
                )
                con.unregister("_chain_links")  # pragma: no mutate
                _set_head(con, chain, seq, prev)
                linked += len(updates)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return linked


@dataclass(frozen=True, slots=True)
class Break:
    """One broken link: which chain, at which seq, which row, and what is wrong."""

    chain: str
    seq: int | None
    row: str
    problem: str

    def __str__(self) -> str:
        at = f"seq {self.seq}" if self.seq is not None else "unlinked row"
        return f"{self.chain} chain ({self.row and 'row ' + self.row + ', '}{at}): {self.problem}"


@dataclass(slots=True)
class ChainReport:
    chain: str
    table: str
    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def _rows(con: duckdb.DuckDBPyConnection, chain: Chain) -> Iterator[dict[str, Any]]:
    cols = ", ".join(dict.fromkeys((*chain.content, *chain.key)))
    yield from _dicts(
        con, f"SELECT {cols}, seq, prev_hash, hash FROM {chain.table} ORDER BY seq NULLS LAST, rowid"
    )


def _name(chain: Chain, row: dict[str, Any]) -> str:
    return "/".join(f"{c}={row[c]}" for c in chain.key)


def verify_chain(con: duckdb.DuckDBPyConnection, chain: Chain, limit: int = 20) -> ChainReport:
    """Walk ``chain`` in seq order; report edited rows, deleted rows and unlinked rows."""
    report = ChainReport(chain.name, chain.table)
    breaks = report.breaks
    expected, prev = 1, GENESIS
    for row in _rows(con, chain):
        report.rows += 1
        seq = row["seq"]
        name = _name(chain, row)
        if seq is None:
            breaks.append(Break(chain.name, None, name, "has no chain link (seq is NULL): added outside nhi"))
            continue
        if seq > expected:
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            breaks.append(Break(chain.name, seq, name, f"{missing} missing before this row: deleted"))
        elif seq < expected:
            breaks.append(Break(chain.name, seq, name, f"seq {seq} appears twice: a row was duplicated"))
        elif row["prev_hash"] != prev:
            breaks.append(
                Break(
                    chain.name,
                    seq,
                    name,
                    f"prev_hash is not the hash of seq {seq - 1}: that row was rewritten",
                )
            )
        if link_hash(chain, str(row["prev_hash"]), row, seq) != row["hash"]:
            breaks.append(Break(chain.name, seq, name, "content does not match its hash: the row was edited"))
        expected, prev = max(expected, seq + 1), str(row["hash"])
        report.head_seq, report.head_hash = seq, prev
    stored_seq, stored_hash = head(con, chain)
    if stored_seq > report.head_seq:
        missing = (
            f"seq {stored_seq}"
            if stored_seq == report.head_seq + 1
            else f"seq {report.head_seq + 1}..{stored_seq}"
        )
        breaks.append(Break(chain.name, stored_seq, "", f"the newest rows ({missing}) were deleted"))
    elif (stored_seq, stored_hash) != (report.head_seq, report.head_hash) and report.head_seq:
        breaks.append(
            Break(
                chain.name,
                report.head_seq,
                "",
                "the chain head recorded at write time does not match the rows",
            )
        )
    del breaks[limit:]
    return report


def verify(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[ChainReport]:
    return [verify_chain(con, chain, limit) for chain in CHAINS]


def heads(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, str]]:
    return {chain.name: head(con, chain) for chain in CHAINS}
