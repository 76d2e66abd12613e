"""The evidence store: a DuckDB file holding events, findings, trust history and engine state."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import pyarrow as pa

from contract.errors import StoreError
from store import chain
from store import columns as C
from store.batch import Batch
from store.connection import connect, describe_error
from store.migrations import check_readable, migrate
from store.writer import Step, WriteStats, drop_views, plan_batch, run_steps

TABLES = (
    "events",
    "identities",
    "credentials",
    "tasks",
    "findings",
    "finding_history",
    "trust_scores",
    "rejects",
    "engine_state",
    "kafka_offsets",
    "chain_heads",
    "alert_suppressions",
    "suppressions",
    "identity_aliases",
    "skipped",
    "schema_migrations",
)

CHAIN_VERSION = 2  # the migration that added the hash chains


class Store:
    """One open DuckDB file. Use ``Store.open``; not safe to share between threads."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self.path = path
        self.read_only = read_only

    @classmethod
    def open(cls, path: str | Path, read_only: bool = False) -> Store:
        """Open (creating and migrating when writable) the store at ``path``."""
        target = Path(path)
        con = connect(target, read_only=read_only)
        try:
            if read_only:
                check_readable(con, target)
            else:
                applied = migrate(con, target)
                if CHAIN_VERSION in applied:
                    chain.adopt(con)  # rows from before the chain existed get linked once, now
        except StoreError:
            con.close()
            raise
        except duckdb.Error as exc:
            con.close()
            raise StoreError(describe_error(exc, target)) from exc
        return cls(con, target, read_only)

    def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            try:
                con.close()
            except duckdb.Error as exc:
                raise StoreError(describe_error(exc, self.path)) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"evidence store {self.path} is closed")
        return self._con

    def write(self, batch: Batch) -> WriteStats:
        """Store ``batch`` atomically: all of it, or (on any error) none of it."""
        if self.read_only:
            raise StoreError(f"evidence store {self.path} was opened read-only; it can't be written")
        con = self.con
        try:
            steps = plan_batch(batch)
        except pa.ArrowException as exc:  # wrong types in the rows; a TypeError elsewhere is a bug
            raise StoreError(
                f"evidence store {self.path}: the batch can't be converted to Arrow: {exc}"
            ) from exc
        if not steps:
            return WriteStats()
        try:
            con.begin()
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, self.path)) from exc
        try:
            stats = run_steps(con, steps)
            con.commit()
        except duckdb.Error as exc:
            self._rollback(steps)
            raise StoreError(describe_error(exc, self.path)) from exc
        except BaseException:
            self._rollback(steps)
            raise
        return stats

    def _rollback(self, steps: list[Step]) -> None:
        # The original error is the one worth reporting; DuckDB may have aborted the transaction already.
        with suppress(duckdb.Error):
            self.con.rollback()
        drop_views(self.con, steps)

    def known_event_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of ``ids`` already stored, in one anti-join instead of a lookup per id."""
        wanted = list(ids)
        if not wanted:
            return set()
        con = self.con
        try:
            con.register("_b_ids", C.ids_table(wanted))
            try:
                found = con.sql("SELECT id FROM _b_ids SEMI JOIN events USING (id)").to_arrow_table()
            finally:
                con.unregister("_b_ids")
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, self.path)) from exc
        if found is None:  # no result set: cannot happen for a SELECT, but the stub allows it
            return set()
        return set(found.column(0).to_pylist())

    def stored_events(self, ids: Iterable[str]) -> dict[str, datetime]:
        """{id: ingested_at} for the subset of ``ids`` already stored."""
        wanted = list(ids)
        if not wanted:
            return {}
        con = self.con
        try:
            con.register("_b_ids", C.ids_table(wanted))
            try:
                found = con.execute(
                    "SELECT e.id, e.ingested_at FROM events AS e SEMI JOIN _b_ids USING (id)"
                ).fetchall()
            finally:
                con.unregister("_b_ids")
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, self.path)) from exc
        return {str(i): t for i, t in found}

    def load_engine_state(self, name: str) -> bytes | None:
        row = self._one("SELECT state FROM engine_state WHERE name = $name", {"name": name})
        return bytes(row[0]) if row else None

    def load_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """Committed next offsets of ``group``: {(topic, partition): next_offset}."""
        rows = self.rows(
            'SELECT topic, "partition", next_offset FROM kafka_offsets WHERE grp = $grp', {"grp": group}
        )
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def counts(self) -> dict[str, int]:
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
        return {str(name): int(n) for name, n in self.rows(sql)}

    def verify_chains(self, limit: int = 20) -> list[chain.ChainReport]:
        """Walk the hash chains of finding_history and trust_scores (see store/chain.py)."""
        try:
            return chain.verify(self.con, limit)
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, self.path)) from exc

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        """{chain: (last seq, last hash)}: what an export pins in its manifest."""
        try:
            return chain.heads(self.con)
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, self.path)) from exc

    def rows(self, sql: str, params: dict[str, object] | None = None) -> list[tuple[Any, ...]]:
        """Run trusted SQL (ours, or tests') and fetch every row. User SQL goes through store.readonly."""
        try:
            return self.con.execute(sql, params or {}).fetchall()
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, self.path)) from exc

    def _one(self, sql: str, params: dict[str, object]) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None
