"""Opening DuckDB files, and turning DuckDB's exceptions into StoreError messages people can act on."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from contract.errors import StoreError

# DuckDB says e.g. 'Could not set lock on file "x": Conflicting lock is held in /usr/bin/python3 (PID 42)'.
_LOCK_HOLDER = re.compile(r"held in (?P<prog>\S+) \(PID (?P<pid>\d+)\)")


def describe_error(exc: duckdb.Error, path: str | Path) -> str:
    """A one-paragraph explanation of ``exc`` that names the store file and what to do."""
    text = str(exc).strip()
    lowered = text.lower()
    if "could not set lock" in lowered or "conflicting lock" in lowered:
        holder = _LOCK_HOLDER.search(text)
        who = f"process {holder['pid']} ({holder['prog']})" if holder else "another process"
        return (
            f"evidence store {path} is locked by {who}. DuckDB allows one writer per file: stop that "
            f"process (e.g. a running `nhi run` or worker) or point --db / NHI_DB at another file."
        )
    if "different configuration" in lowered:
        return (
            f"evidence store {path} is already open in this process in another mode (read-only vs "
            f"read-write); close the other handle first. DuckDB said: {text}"
        )
    if isinstance(exc, duckdb.IOException) and ("no such file" in lowered or "cannot open" in lowered):
        return f"evidence store {path} can't be opened: {text}"
    return f"evidence store {path}: {text}"


def connect(
    path: str | Path,
    *,
    read_only: bool,
    config: dict[str, str | bool | int | float | list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``; every failure is a StoreError naming the file."""
    target = Path(path)
    if read_only and not target.exists():
        raise StoreError(
            f"evidence store {target} does not exist: ingest something first (nhi ingest ... --db {target})"
        )
    if not read_only and target.parent and not target.parent.exists():
        raise StoreError(f"evidence store {target}: directory {target.parent} does not exist")
    try:
        con = duckdb.connect(str(target), read_only=read_only, config=config or {})
    except duckdb.Error as exc:
        raise StoreError(describe_error(exc, target)) from exc
    try:
        # Instants come back as UTC datetimes whatever the machine's zone is.
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error as exc:
        con.close()
        raise StoreError(describe_error(exc, target)) from exc
    return con
