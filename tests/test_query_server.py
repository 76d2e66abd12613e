"""The query server without Kafka: a store held open in this process answers run_remote like run_query."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from contract.errors import QueryError
from queries.remote import run_remote
from store import Store
from store.query_server import QueryServer
from store.query_wire import server_file
from store.readonly import run_query
from tests.evidence_fixture import build_fixture_db

SQL = {
    "identities": "SELECT * FROM identities ORDER BY nhi",
    "findings": "SELECT * FROM findings ORDER BY finding_id",
    "odd types": "SELECT 12345678901234567890::HUGEINT AS h, 1.5::DECIMAL(10, 2) AS d, NULL AS n, [1, 2] AS l",
}


def test_remote_results_equal_local_ones(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "e.duckdb")
    store = Store.open(db)
    server = QueryServer(store.con, db)
    server.start()
    try:
        remote = {name: run_remote(db, sql) for name, sql in SQL.items()}
        with pytest.raises(QueryError, match="read-only: INSERT"):
            run_remote(db, "INSERT INTO tasks VALUES ('t', 'n', NULL, NULL)")
    finally:
        server.stop()
        store.close()
    assert not server_file(db).exists()
    for name, sql in SQL.items():
        assert remote[name] == run_query(db, sql), name


def test_no_live_server_means_none(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    assert run_remote(db, "SELECT 1") is None  # no announcement at all
    # An announcement whose process is gone (a SIGKILLed sink): pid 2**22 + 1 exceeds Linux's pid_max.
    server_file(db).write_bytes(
        orjson.dumps({"host": "127.0.0.1", "port": 1, "pid": 2**22 + 1, "token": "t"})
    )
    assert run_remote(db, "SELECT 1") is None
    # A live pid (ours) but nothing listening on the port: pid reuse after a crash.
    server_file(db).write_bytes(
        orjson.dumps({"host": "127.0.0.1", "port": 1, "pid": os.getpid(), "token": "t"})
    )
    assert run_remote(db, "SELECT 1") is None
