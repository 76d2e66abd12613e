"""Running user SQL against the evidence store, read-only and without file or network access."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from contract.errors import QueryError, StoreError
from store.connection import connect, describe_error
from store.migrations import check_readable
from store.sqlguard import check_read_only, to_dollar_params

# Arrow types for DuckDB type names, so a column that is all NULL still gets its real type in parquet.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UINTEGER": pa.uint32(),
    "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
    "BLOB": pa.binary(),
    "VARCHAR[]": pa.list_(pa.string()),
}


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    types: list[str] = field(default_factory=list)  # DuckDB type names, e.g. "TIMESTAMP WITH TIME ZONE"

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_arrow(self) -> pa.Table:
        arrays = []
        for i in range(len(self.columns)):
            values = [row[i] for row in self.rows]
            dtype = _ARROW_TYPES.get(self.types[i]) if i < len(self.types) else None
            try:
                arrays.append(pa.array(values, dtype))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                # e.g. HUGEINT, UNION or mixed values: text is better than refusing the export
                arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
        return pa.Table.from_arrays(arrays, names=list(self.columns))


def _open(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    con = connect(db_path, read_only=True, config={"enable_external_access": False})
    try:
        # Locked last, after TimeZone: from here on SQL can't turn external access back on.
        con.execute("SET lock_configuration = true")
        check_readable(con, db_path)
    except BaseException:
        con.close()
        raise
    return con


def friendly_error(exc: duckdb.Error, db_path: str | Path) -> QueryError:
    text = str(exc)
    if (
        isinstance(exc, duckdb.PermissionException)
        or "disabled by configuration" in text
        or "disabled through configuration" in text
    ):
        return QueryError(f"nhi query: file and network access from SQL is disabled. DuckDB said: {text}")
    if "configuration has been locked" in text:
        return QueryError("nhi query is read-only: settings can't be changed from SQL")
    if "read-only mode" in text:
        return QueryError(f"nhi query is read-only: {text}")
    return QueryError(f"query failed on {db_path}: {text}")


# One read-only statement with its bound parameters, as run_query executes it.
Planned = list[tuple[str, dict[str, object]]]


def plan_query(sql: str, params: Mapping[str, object] | None = None) -> Planned:
    """Check ``sql`` is read-only and bind ``params`` per statement; QueryError says what is wrong.

    Shared by run_query and the running sink's query server, so both refuse the same things.
    """
    given = dict(params or {})
    statements = check_read_only(to_dollar_params(sql))
    used: set[str] = set().union(*(s.named_parameters for s in statements))
    missing = sorted(used - given.keys())
    if missing:
        raise QueryError(f"nhi query: missing parameter(s): {', '.join(missing)} (give them as name=value)")
    unused = sorted(given.keys() - used)
    if unused:
        raise QueryError(f"nhi query: parameter(s) not used by the query: {', '.join(unused)}")
    return [(s.query, {name: given[name] for name in s.named_parameters}) for s in statements]


def execute_plan(con: duckdb.DuckDBPyConnection, plan: Planned) -> duckdb.DuckDBPyConnection:
    """Run every statement on ``con``; the last one's result is returned (duckdb.Error propagates)."""
    result: duckdb.DuckDBPyConnection | None = None
    for query, bound in plan:
        result = con.execute(query, bound)
    if result is None:  # check_read_only refuses an empty statement list; kept for the type checker
        raise QueryError("nhi query: no SQL statement given")
    return result


def run_query(db_path: str | Path, sql: str, params: Mapping[str, object] | None = None) -> QueryResult:
    """Run read-only ``sql`` (``:name`` or ``$name`` placeholders) and return every row of the last statement."""
    plan = plan_query(sql, params)
    con = _open(db_path)
    try:
        result = execute_plan(con, plan)
        description = result.description or []
        rows = result.fetchall()
    except duckdb.Error as exc:
        raise friendly_error(exc, db_path) from exc
    finally:
        try:
            con.close()
        except duckdb.Error as exc:
            raise StoreError(describe_error(exc, db_path)) from exc
    return QueryResult(
        columns=[str(d[0]) for d in description],
        rows=[tuple(r) for r in rows],
        types=[str(d[1]) for d in description],
    )
