"""The least any JSON-to-DuckDB loader must do, as a benchmark ceiling for the sink.

``orjson.loads`` each record, one Arrow table per batch, one INSERT per batch in its own
transaction, into an in-memory database: no validation, no keys, no upserts, no offsets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import duckdb
import orjson
import pyarrow as pa


def raw_insert_seconds(values: Sequence[bytes], batch: int = 5000) -> float:
    """Seconds to load ``values`` (JSON objects) in ``batch``-sized transactions."""
    loads = orjson.loads
    # The column types, known up front as a real loader's schema would be (not timed): the union
    # of every record's keys, which a struct array infers.
    row_type = pa.array([loads(v) for v in values]).type
    con = duckdb.connect(":memory:")
    try:
        con.register("_raw_batch", pa.Table.from_struct_array(pa.array([], type=row_type)))
        con.execute("CREATE TABLE raw AS SELECT * FROM _raw_batch")
        con.unregister("_raw_batch")
        start = time.perf_counter()
        for i in range(0, len(values), batch):
            rows = pa.array([loads(v) for v in values[i : i + batch]], type=row_type)
            con.register("_raw_batch", pa.Table.from_struct_array(rows))
            con.execute("BEGIN")
            con.execute("INSERT INTO raw SELECT * FROM _raw_batch")
            con.execute("COMMIT")
            con.unregister("_raw_batch")
        return time.perf_counter() - start
    finally:
        con.close()
