"""Versioned schema migrations: ``store/migrations/NNNN_name.sql`` applied in order on open.

Each migration runs in its own transaction together with its ``schema_migrations`` row, so a
crash mid-migration leaves the file at the previous version rather than half-migrated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

from contract.errors import StoreError

_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with this code, in version order."""
    found: list[Migration] = []
    for entry in resources.files("store").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version number: {versions}")
    return tuple(found)


def latest_version() -> int:
    shipped = migrations()
    return shipped[-1].version if shipped else 0


def current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The file's schema version; None when it has no ledger (a new or foreign file)."""
    has_ledger = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations' AND schema_name = 'main'"
    ).fetchone()
    if not has_ledger or not has_ledger[0]:
        return None
    row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _refuse_newer(version: int, path: str | Path) -> None:
    if version > latest_version():
        raise StoreError(
            f"evidence store {path} has schema version {version}, but this nhi-evidence only knows up to "
            f"version {latest_version()}: it was written by a newer release. Upgrade nhi-evidence, or use "
            f"another --db file."
        )


def check_readable(con: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """For read-only opens: the file must already be at exactly this code's schema version."""
    version = current_version(con)
    if version is None:
        raise StoreError(f"{path} is not an nhi-evidence store (no schema_migrations table)")
    _refuse_newer(version, path)
    if version < latest_version():
        raise StoreError(
            f"evidence store {path} has schema version {version}, this nhi-evidence expects "
            f"{latest_version()}: open it once for writing (e.g. `nhi ingest`) to migrate it."
        )


def migrate(con: duckdb.DuckDBPyConnection, path: str | Path) -> list[int]:
    """Apply pending migrations in order; returns the versions applied now."""
    version = current_version(con)
    if version is None:
        con.execute(_CREATE_LEDGER)
        version = 0
    _refuse_newer(version, path)
    applied: list[int] = []
    for migration in migrations():
        if migration.version <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES ($v, $t)",
                {"v": migration.version, "t": datetime.now(UTC)},
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(
                f"evidence store {path}: migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied
