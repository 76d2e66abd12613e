"""What a running sink's query server and ``nhi query`` exchange: a discovery file and Arrow IPC results.

Results travel as an Arrow IPC stream made by DuckDB, with the column names and DuckDB type names in
the schema metadata. The client turns it back into rows with DuckDB too, casting each column to its
original type, so a QueryResult from the server has the same Python values and types as one from
``run_query`` on the file (HUGEINT stays int, UUID stays UUID, TIMESTAMPTZ comes back in UTC), and
every output format renders it the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from contract.errors import QueryError
from store.readonly import QueryResult

CONTENT_TYPE = "application/vnd.apache.arrow.stream"
TOKEN_HEADER = "X-NHI-Token"
QUERY_PATH = "/query"
_META_COLUMNS = b"nhi.columns"
_META_TYPES = b"nhi.types"


def server_file(db_path: str | Path) -> Path:
    """``<db>.query.json``: where a sink that holds ``db_path`` says how to reach its query server."""
    return Path(f"{db_path}.query.json")


def write_server_file(db_path: str | Path, info: dict[str, Any]) -> Path:
    """Write the discovery file atomically, readable by its owner only (it holds the token)."""
    path = server_file(db_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, orjson.dumps(info))
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def encode_result(table: pa.Table, columns: list[str], types: list[str]) -> bytes:
    # Positional names: a result may repeat a column name (SELECT 1 AS a, 2 AS a), Arrow tables should not.
    renamed = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    meta = {_META_COLUMNS: orjson.dumps(columns), _META_TYPES: orjson.dumps(types)}
    renamed = renamed.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, renamed.schema) as writer:
        writer.write_table(renamed)
    return bytes(sink.getvalue().to_pybytes())


def decode_result(data: bytes) -> QueryResult:
    try:
        table = pa.ipc.open_stream(data).read_all()
        meta = table.schema.metadata or {}
        columns = [str(c) for c in orjson.loads(meta[_META_COLUMNS])]
        types = [str(t) for t in orjson.loads(meta[_META_TYPES])]
    except (pa.ArrowException, KeyError, orjson.JSONDecodeError) as exc:
        raise QueryError(f"the sink's query server sent a result that can't be read: {exc}") from exc
    if not columns:
        return QueryResult(columns=[], rows=[], types=[])
    # No file or network access: the type names come from another process and end up in SQL text.
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        con.execute("SET TimeZone = 'UTC'")  # as store.connection does, so instants come back in UTC
        con.register("_result", table)
        select = ", ".join(_cast(con, i, t) for i, t in enumerate(types))
        rows = con.execute(f"SELECT {select} FROM _result").fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"the sink's query result can't be converted: {exc}") from exc
    finally:
        con.close()
    return QueryResult(columns=columns, rows=[tuple(r) for r in rows], types=types)


def _cast(con: duckdb.DuckDBPyConnection, index: int, type_name: str) -> str:
    """``CAST(ci AS type)`` when DuckDB accepts it on this column, else the column as Arrow gave it."""
    expr = f'CAST("c{index}" AS {type_name})'
    if ";" in type_name or "--" in type_name or "/*" in type_name:
        return f'"c{index}"'  # not a type name: never let it become a second statement
    try:
        con.execute(f"SELECT {expr} FROM _result LIMIT 0")
    except duckdb.Error:  # e.g. the NULL type of SELECT NULL; its values are right as they are
        return f'"c{index}"'
    return expr
