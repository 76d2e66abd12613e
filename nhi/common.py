"""Arguments and helpers every command shares."""

from __future__ import annotations

import argparse
import os

from store.store import Store
from streams.settings import Settings, load_settings

DEFAULT_DB = "./nhi-evidence.duckdb"


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=os.environ.get("NHI_DB", DEFAULT_DB),
        metavar="PATH",
        help=f"DuckDB evidence store (default: $NHI_DB or {DEFAULT_DB})",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(db=getattr(args, "db", None))


def open_store(path: str, read_only: bool = False) -> Store:
    return Store.open(path, read_only=read_only)
