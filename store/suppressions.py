"""Recording and reading suppressions (contract.suppressions): append-only rows on a hash chain."""

from __future__ import annotations

from contextlib import suppress

import duckdb

from contract.errors import StoreError
from contract.suppressions import SuppressionRow
from store import chain
from store.connection import describe_error
from store.schema import rows_table
from store.store import Store

_INSERT = "INSERT INTO suppressions BY NAME SELECT * FROM _b_suppressions"
_SELECT = """
SELECT suppression_id, action, finding_id, reason, actor, recorded_at, expires
FROM suppressions ORDER BY seq
"""


def record(store: Store, rows: list[SuppressionRow]) -> int:
    """Append ``rows`` in one transaction with their chain links; returns the rows added (a row
    already stored, same id and action, is not added again)."""
    if store.read_only:
        raise StoreError(f"evidence store {store.path} was opened read-only; it can't be written")
    if not rows:
        return 0
    table = rows_table(rows, SuppressionRow)
    con = store.con
    try:
        con.begin()
    except duckdb.Error as exc:
        raise StoreError(describe_error(exc, store.path)) from exc
    try:
        linked = chain.link_new_rows(con, chain.SUPPRESSIONS, table)
        if len(linked):
            con.register("_b_suppressions", linked)
            con.execute(_INSERT)
            con.unregister("_b_suppressions")
        con.commit()
    except BaseException as exc:
        with suppress(duckdb.Error):
            con.rollback()
        with suppress(duckdb.Error):
            con.unregister("_b_suppressions")
        if isinstance(exc, duckdb.Error):
            raise StoreError(describe_error(exc, store.path)) from exc
        raise
    return len(linked)


def rows(store: Store) -> list[SuppressionRow]:
    """Every suppression row, adds and revokes, in the order they were recorded."""
    return [SuppressionRow(*r) for r in store.rows(_SELECT)]


def finding_ids(store: Store, wanted: list[str]) -> dict[str, list[str]]:
    """{given id or prefix: the stored finding ids it names} (an exact id names only itself)."""
    out: dict[str, list[str]] = {}
    for given in wanted:
        found = store.rows(
            "SELECT finding_id FROM findings WHERE finding_id = $f OR starts_with(finding_id, $f) "
            "ORDER BY finding_id = $f DESC, finding_id LIMIT 5",
            {"f": given},
        )
        names = [str(r[0]) for r in found]
        out[given] = names[:1] if names and names[0] == given else names
    return out
