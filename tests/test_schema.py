"""One schema: the store's tables, as the migrations create them, are the row types' columns.

The Arrow tables the writer inserts are built from the row types (``store/schema.py``); here every
table created by the migrations is held to the same row type: the same column names, SQL types
and nullability, plus only the columns listed as the store's own.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from contract.events import CONTEXT_FIELDS
from contract.records import CredentialRow, Finding, IdentityRow, TaskRow, TrustChange
from contract.suppressions import SuppressionRow
from store.schema import arrow_schema, event_scalars
from store.store import Store

SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
    pa.list_(pa.string()): "VARCHAR[]",
}
JSON_TEXT = ("VARCHAR", True)

# table -> (row schema, columns that are the store's own: name -> (SQL type, nullable))
CHAIN = {"seq": ("BIGINT", True), "prev_hash": ("VARCHAR", True), "hash": ("VARCHAR", True)}
TABLES = {
    "identities": (arrow_schema(IdentityRow), {}),
    "credentials": (arrow_schema(CredentialRow), {}),
    "tasks": (arrow_schema(TaskRow), {}),
    "trust_scores": (
        arrow_schema(TrustChange, frozenset({"factors"})),
        {"factors": ("VARCHAR", False), **CHAIN},
    ),
    "findings": (
        arrow_schema(Finding, frozenset({"details", "activity"})),
        {"details": JSON_TEXT, "updated_at": ("TIMESTAMP WITH TIME ZONE", False)},
    ),
    "finding_history": (
        arrow_schema(Finding, frozenset({"details", "first_seen", "last_seen", "resolved_at"})),
        {
            "history_id": ("VARCHAR", False),
            "time": ("TIMESTAMP WITH TIME ZONE", False),
            "details": JSON_TEXT,
            "recorded_at": ("TIMESTAMP WITH TIME ZONE", False),
            **CHAIN,
        },
    ),
    "suppressions": (arrow_schema(SuppressionRow), CHAIN),
    "events": (
        event_scalars(),
        {"context": ("STRUCT", True), "attrs": JSON_TEXT, "ingested_at": ("TIMESTAMP WITH TIME ZONE", False)},
    ),
}


def _described(store: Store, table: str) -> dict[str, tuple[str, bool]]:
    rows = store.rows(f"DESCRIBE {table}")
    return {
        name: (kind.split("(")[0] if kind.startswith("STRUCT") else kind, null == "YES")
        for name, kind, null, *_ in rows
    }


@pytest.mark.parametrize("table", sorted(TABLES))
def test_migrated_table_is_its_row_type(tmp_path: Path, table: str) -> None:
    schema, own = TABLES[table]
    expected = {f.name: (SQL_TYPES[f.type], f.nullable) for f in schema}
    expected.update(own)
    with Store.open(tmp_path / "s.duckdb") as store:
        got = _described(store, table)
    assert got == expected


def test_context_struct_is_the_contract_context(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        kind = next(k for name, k, *_ in store.rows("DESCRIBE events") if name == "context")
    fields = [part.strip().split(" ")[0].strip('"') for part in kind[len("STRUCT(") : -1].split(",")]
    assert fields == list(CONTEXT_FIELDS)


def test_the_writer_builds_its_tables_from_the_row_types() -> None:
    from store import columns

    assert event_scalars() == columns.EVENT_SCALARS
    assert columns.identities_table([]).schema == arrow_schema(IdentityRow)
    assert columns.credentials_table([]).schema == arrow_schema(CredentialRow)
    assert columns.tasks_table([]).schema == arrow_schema(TaskRow)
