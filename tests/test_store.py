"""The DuckDB evidence store on real files: migrations, idempotent batch writes, upserts, state."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contract.errors import StoreError
from contract.events import Context, Event, EventType
from contract.records import CredentialRow, Factor, Finding, IdentityRow, Snapshots, TaskRow, TrustChange
from contract.rejects import Reject
from store import TABLES, Batch, Store
from store.migrations import latest_version

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NHI = "k8s:prod/payments/ledger"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def used(i: int, **kw: Any) -> Event:
    return Event(
        id=f"e{i}", type=EventType.CREDENTIAL_USED, time=at(i), nhi=NHI, credential="c1", action="get",
        resource="s3://ledger", outcome="success", context=Context(cluster="prod", node=f"n{i % 2}"), **kw,
    )  # fmt: skip


def a_finding(status: str = "open", first: float = 10, last: float = 10, **kw: object) -> Finding:
    return Finding(
        finding_id="f1", detector="token-outlived-task", severity="medium", status=status, nhi=NHI,  # type: ignore[arg-type]
        credential="c1", task="t1", reason="outlived-task", summary="c1 outlives t1", first_seen=at(first),
        last_seen=at(last), evidence=["e1"], **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def full_batch() -> Batch:
    return Batch(
        events=[used(i) for i in range(1, 6)],
        ingested_at=T0,
        rejects=[Reject("{oops", "invalid JSON", "native", "in.jsonl:3", T0)],
        findings=[a_finding()],
        trust=[
            TrustChange(NHI, at(1), 80, 100, (Factor("outlived-task", -20, "c1 outlives t1", ("e1",)),), "e1")
        ],
        snapshots=Snapshots(
            identities=[IdentityRow(NHI, "alice", "active", "registered", "ledger", at(0), at(5), 5, 80, 1)],
            credentials=[
                CredentialRow("c1", NHI, "k8s-bound-token", "t1", True, at(0), None, None, at(1), at(5), 5)
            ],
            tasks=[TaskRow("t1", NHI, at(0), at(3))],
        ),
        engine_state={"engine": b"\x00state-1"},
        offsets={("nhi", "events", 0): 6},
    )


def table_rows(store: Store, table: str, without: tuple[str, ...] = ()) -> list[tuple[object, ...]]:
    columns = [r[0] for r in store.rows(f"SELECT column_name FROM (DESCRIBE {table})") if r[0] not in without]
    return store.rows(
        f"SELECT {', '.join(repr(c).replace(chr(39), chr(34)) for c in columns)} FROM {table} ORDER BY ALL"
    )


# -- migrations ---------------------------------------------------------------------------------


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store.open(db) as store:
        first = store.rows("SELECT version, applied_at FROM schema_migrations")
        assert [v for v, _ in first] == list(range(1, latest_version() + 1))
        assert set(TABLES) <= {r[0] for r in store.rows("SELECT table_name FROM duckdb_tables()")}
    with Store.open(db) as store:
        assert store.rows("SELECT version, applied_at FROM schema_migrations") == first


def test_a_store_from_newer_code_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store.open(db) as store:
        store.rows("INSERT INTO schema_migrations VALUES (9999, now())")
    for read_only in (False, True):
        with pytest.raises(StoreError, match=r"schema version 9999.*newer release") as info:
            Store.open(db, read_only=read_only)
        assert str(db) in str(info.value)


def test_read_only_open_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope.duckdb", read_only=True)
    assert not (tmp_path / "nope.duckdb").exists()


def test_locked_file_names_the_path_and_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    Store.open(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from store import Store; s = Store.open(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError) as info:
            Store.open(db)
        message = str(info.value)
        assert str(db) in message
        assert f"locked by process {holder.pid}" in message
        assert "stop that process" in message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    Store.open(db).close()  # free again once the holder is gone


# -- writes -------------------------------------------------------------------------------------


def test_batch_write_is_idempotent(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        stats = store.write(full_batch())
        assert (stats.events, stats.rejects, stats.finding_changes, stats.trust_changes) == (5, 1, 1, 1)
        counts = store.counts()
        snapshot = {t: table_rows(store, t, without=("updated_at",)) for t in TABLES}
        again = store.write(full_batch())
        assert (again.events, again.rejects, again.finding_changes, again.trust_changes) == (0, 0, 0, 0)
        assert store.counts() == counts
        assert {t: table_rows(store, t, without=("updated_at",)) for t in TABLES} == snapshot
    assert counts["events"] == 5 and counts["findings"] == 1 and counts["kafka_offsets"] == 1


def test_events_round_trip_with_context_attrs_and_first_ingestion_time(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(Batch(events=[used(1, attrs={"bytes": 5})], ingested_at=T0))
        store.write(Batch(events=[used(1, attrs={"bytes": 5}), used(2)], ingested_at=at(99)))
        rows = store.rows(
            "SELECT id, type, time, ingested_at, context.node, context.cluster, attrs, attested FROM events ORDER BY id"
        )
    assert rows == [
        ("e1", "credential.used", at(1), T0, "n1", "prod", '{"bytes":5}', False),
        ("e2", "credential.used", at(2), at(99), "n0", "prod", None, False),
    ]


def test_duplicates_inside_one_batch_are_stored_once(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        changes = [
            TrustChange(NHI, at(1), 90, 100, (), "e1"),
            TrustChange(
                NHI, at(1), 80, 100, (Factor("x", -20, "later"),), "e1"
            ),  # same key: the last one wins
        ]
        store.write(Batch(events=[used(1), used(1), used(2)], trust=changes))
        assert store.counts()["events"] == 2
        assert store.rows("SELECT score FROM trust_scores") == [(80,)]


def test_known_event_ids(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        assert store.known_event_ids(["e1"]) == set()
        store.write(Batch(events=[used(i) for i in range(1, 4)]))
        assert store.known_event_ids(["e0", "e1", "e3", "e9", "e3"]) == {"e1", "e3"}
        assert store.known_event_ids([]) == set()


def test_finding_upsert_keeps_first_seen_and_updates_status(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(Batch(findings=[a_finding(first=10, last=10)]))
        update = a_finding(first=50, last=20, activity="update", details={"outlives_s": 60})
        update.evidence = ["e1", "e2"]
        close = a_finding(status="resolved", first=50, last=30, activity="close", resolved_at=at(40))
        close.evidence = ["e1", "e2", "e3"]
        store.write(Batch(findings=[update, close]))  # two changes of one finding in one batch
        row = store.rows("SELECT status, first_seen, last_seen, resolved_at, evidence, details FROM findings")
        assert row == [("resolved", at(10), at(30), at(40), ["e1", "e2", "e3"], "{}")]
        history = store.rows("SELECT activity, status, time, evidence FROM finding_history ORDER BY time")
        assert history == [
            ("create", "open", at(10), ["e1"]),
            ("update", "open", at(20), ["e1", "e2"]),
            ("close", "resolved", at(40), ["e1", "e2", "e3"]),
        ]


def test_trust_history_is_appended_and_idempotent_per_event(tmp_path: Path) -> None:
    factor = Factor("used-after-task-end", -30, "used 5m after t1 ended", ("e2", "e3"))
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(Batch(trust=[TrustChange(NHI, at(1), 100, None, (), "e1")]))
        store.write(Batch(trust=[TrustChange(NHI, at(2), 70, 100, (factor,), "e2")]))
        store.write(Batch(trust=[TrustChange(NHI, at(2), 70, 100, (factor,), "e2")]))
        rows = store.rows("SELECT time, score, previous, factors, event_id FROM trust_scores ORDER BY time")
    assert rows == [
        (at(1), 100, None, "[]", "e1"),
        (
            at(2), 70, 100,
            '[{"name":"used-after-task-end","delta":-30,"detail":"used 5m after t1 ended","evidence":["e2","e3"]}]',
            "e2",
        ),
    ]  # fmt: skip


def test_snapshots_are_upserted(tmp_path: Path) -> None:
    batch = full_batch()
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(batch)
        later = Snapshots(
            identities=[
                replace(batch.snapshots.identities[0], first_seen=at(100), owner_status="departed", trust=40)
            ],
            credentials=[replace(batch.snapshots.credentials[0], revoked_at=at(7), use_count=9)],
            tasks=[TaskRow("t1", NHI, at(0), at(4)), TaskRow("t2", NHI, at(5), None)],
        )
        store.write(Batch(snapshots=later))
        assert store.rows("SELECT first_seen, owner_status, trust FROM identities") == [
            (at(0), "departed", 40)
        ]
        assert store.rows("SELECT revoked_at, use_count FROM credentials") == [(at(7), 9)]
        assert store.rows("SELECT task, ended_at FROM tasks ORDER BY task") == [("t1", at(4)), ("t2", None)]


def test_rejects_are_idempotent_on_raw_source_and_location(tmp_path: Path) -> None:
    first = Reject("{oops", "invalid JSON", "native", "in.jsonl:3", T0)
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(Batch(rejects=[first]))
        store.write(Batch(rejects=[replace(first, received_at=at(60))]))  # a replay of the same input
        store.write(Batch(rejects=[replace(first, location="in.jsonl:4")]))  # the same text elsewhere
        assert store.rows("SELECT location, received_at FROM rejects ORDER BY location") == [
            ("in.jsonl:3", T0),
            ("in.jsonl:4", T0),
        ]


def test_engine_state_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with Store.open(db) as store:
        assert store.load_engine_state("engine") is None
        store.write(Batch(engine_state={"engine": b"\x00\xffv1"}))
        store.write(Batch(engine_state={"engine": b"\x00\xffv2", "other": b""}))
        store.write(Batch(events=[used(1)]))  # engine_state=None leaves it alone
    with Store.open(db, read_only=True) as store:
        assert store.load_engine_state("engine") == b"\x00\xffv2"
        assert store.load_engine_state("other") == b""


def test_offsets_commit_with_their_rows_or_not_at_all(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(
            Batch(events=[used(1)], offsets={("g", "events", 0): 1, ("g", "events", 1): 7, ("h", "x", 0): 3})
        )
        assert store.load_offsets("g") == {("events", 0): 1, ("events", 1): 7}
        assert store.load_offsets("h") == {("x", 0): 3}
        assert store.load_offsets("nobody") == {}

        # owner_status is NOT NULL: this fails in DuckDB after the events and finding were inserted
        broken = IdentityRow(NHI, None, None, "registered", None, at(0), at(2), 2, 100, 0)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="NOT NULL"):
            store.write(
                Batch(events=[used(2)], findings=[a_finding()], snapshots=Snapshots(identities=[broken]),
                      offsets={("g", "events", 0): 2})
            )  # fmt: skip
        assert store.counts()["events"] == 1
        assert store.counts()["findings"] == 0
        assert store.load_offsets("g") == {("events", 0): 1, ("events", 1): 7}

        store.write(Batch(events=[used(2)], offsets={("g", "events", 0): 2}))  # the store is still usable
        assert store.counts()["events"] == 2
        assert store.load_offsets("g")[("events", 0)] == 2


def test_rows_that_do_not_fit_the_columns_are_refused_before_writing(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        bad = TrustChange(NHI, at(1), "high", None, (), "e1")  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="can't be converted to Arrow"):
            store.write(Batch(events=[used(1)], trust=[bad]))
        assert store.counts()["events"] == 0


def test_read_only_store_refuses_writes_and_closed_store_refuses_use(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    Store.open(db).close()
    with Store.open(db, read_only=True) as store, pytest.raises(StoreError, match="read-only"):
        store.write(Batch(events=[used(1)]))
    store = Store.open(db)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.counts()


def test_counts_cover_every_table(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        store.write(full_batch())
        counts = store.counts()
    assert set(counts) == set(TABLES)
    assert counts == {
        "events": 5, "identities": 1, "credentials": 1, "tasks": 1, "findings": 1, "finding_history": 1,
        "trust_scores": 1, "rejects": 1, "engine_state": 1, "kafka_offsets": 1, "chain_heads": 2,
        "alert_suppressions": 0, "identity_aliases": 0, "skipped": 0, "suppressions": 0,
        "schema_migrations": latest_version(),
    }  # fmt: skip
