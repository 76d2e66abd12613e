"""nhi sink against a real broker: tables equal a direct write, exactly once across crashes and kills."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from queries.remote import run_remote
from store import Store
from store.query_wire import server_file
from tests.kafka_fixtures import REPO_ROOT
from tests.sink_data import (
    Record,
    chains_ok,
    dataset,
    produce_records,
    reference_db,
    stored_offsets,
    table_rows,
)
from transport.admin import ensure_topics
from transport.sink import SinkBatch, SinkStats, run_sink
from transport.topics import Topics

pytestmark = pytest.mark.kafka

SINK_TOPICS = ("events", "dlq", "findings", "trust", "entities")


def _topics(unique_name: Callable[..., str]) -> Topics:
    return Topics(prefix=unique_name("sink") + ".", partitions=3)


async def _ends_and_committed(
    bootstrap: str, topics: Topics, group: str
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """End offsets of every non-empty sink partition, and what Kafka has committed for ``group``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(getattr(topics, t), p) for t in SINK_TOPICS for p in range(topics.partitions)]
        ends = {(tp.topic, tp.partition): end for tp, end in (await consumer.end_offsets(tps)).items() if end}
        committed = {}
        for tp in tps:
            offset = await consumer.committed(tp)
            if offset is not None:
                committed[(tp.topic, tp.partition)] = offset
        return ends, committed
    finally:
        await consumer.stop()


def _sink(
    bootstrap: str,
    db: Path,
    topics: Topics,
    group: str,
    until: int,
    on_batch: Callable[[SinkBatch], None] | None = None,
    max_records: int = 5000,
) -> SinkStats:
    """Run the sink in this process until it has stored ``until`` records (this run), then stop it."""

    async def go() -> SinkStats:
        stop = asyncio.Event()
        seen = 0

        def batch_done(b: SinkBatch) -> None:
            nonlocal seen
            seen += b.records
            if on_batch is not None:
                on_batch(b)
            if seen >= until:
                stop.set()

        return await run_sink(
            bootstrap,
            str(db),
            topics,
            group,
            stop,
            None,
            batch_done,
            query_port=None,
            max_records=max_records,
        )

    return asyncio.run(go())


def _setup(bootstrap: str, topics: Topics, tmp_path: Path, copies: int) -> tuple[list[Record], Path]:
    data = dataset(copies)
    records = data.records(topics)
    asyncio.run(ensure_topics(bootstrap, topics))
    produce_records(bootstrap, records)
    return records, reference_db(tmp_path / "reference.duckdb", data)


def test_sink_tables_match_and_offsets_are_stored(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    topics = _topics(unique_name)
    group = unique_name("g")
    records, reference = _setup(kafka_bootstrap, topics, tmp_path, copies=20)
    db = tmp_path / "sink.duckdb"

    stats = _sink(kafka_bootstrap, db, topics, group, until=len(records))

    assert stats.records == len(records) and stats.undecodable == 0
    got, want = table_rows(db), table_rows(reference)
    for table in want:
        assert got[table] == want[table], table
    assert all(
        want[t] for t in ("events", "findings", "finding_history", "trust_scores", "identities", "rejects")
    )
    # The counts are of changes stored, whatever was re-sent.
    assert stats.trust == len(want["trust_scores"]) and stats.findings == len(want["finding_history"])
    ends, committed = asyncio.run(_ends_and_committed(kafka_bootstrap, topics, group))
    assert stored_offsets(db, group) == ends
    assert committed == ends  # committed to Kafka after the DuckDB commit, for lag monitoring

    # Re-delivery of everything (stored offsets wiped) changes no table: no duplicated finding history.
    with Store.open(db) as store:
        store.rows("DELETE FROM kafka_offsets")
    redelivered = _sink(kafka_bootstrap, db, topics, group, until=len(records))
    assert redelivered.records == len(records)
    assert (redelivered.new_events, redelivered.findings, redelivered.trust) == (0, 0, 0)
    again = table_rows(db)
    for table in want:
        assert again[table] == want[table], table
    assert chains_ok(db)


def test_crash_between_duckdb_and_kafka_commit_loses_and_repeats_nothing(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    topics = _topics(unique_name)
    group = unique_name("g")
    records, reference = _setup(kafka_bootstrap, topics, tmp_path, copies=20)
    db = tmp_path / "sink.duckdb"
    ranges: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    stored = 0

    class Crash(Exception):
        pass

    def crash_on_third(b: SinkBatch) -> None:
        nonlocal stored
        for tp, r in b.ranges.items():
            ranges[tp].append(r)
        stored += b.records
        if sum(len(v) for v in ranges.values()) >= 3:
            raise Crash  # after the DuckDB commit of this batch, before its Kafka commit

    with pytest.raises(Crash):
        _sink(kafka_bootstrap, db, topics, group, until=len(records), on_batch=crash_on_third, max_records=40)
    before_restart = stored_offsets(db, group)
    _, committed = asyncio.run(_ends_and_committed(kafka_bootstrap, topics, group))
    # The scenario really happened: Kafka is behind DuckDB for the crashed batch's partitions.
    assert any(committed.get(tp, 0) < off for tp, off in before_restart.items())

    def record(b: SinkBatch) -> None:
        for tp, r in b.ranges.items():
            ranges[tp].append(r)

    _sink(kafka_bootstrap, db, topics, group, until=len(records) - stored, on_batch=record, max_records=40)

    ends, _ = asyncio.run(_ends_and_committed(kafka_bootstrap, topics, group))
    for tp, end in ends.items():
        spans = sorted(ranges[tp])
        # Contiguous from 0 to the end, no overlap: every offset stored exactly once.
        assert spans[0][0] == 0 and spans[-1][1] == end, tp
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans)), (tp, spans)
    assert stored_offsets(db, group) == ends
    got, want = table_rows(db), table_rows(reference)
    for table in want:
        assert got[table] == want[table], table
    assert chains_ok(db)


def _spawn_sink(bootstrap: str, db: Path, topics: Topics, group: str) -> subprocess.Popen[bytes]:
    args = ["sink", "-b", bootstrap, "--topic-prefix", topics.prefix, "--db", str(db), "--group", group]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "nhi", *args], cwd=REPO_ROOT, env=env)


def _wait_stored(db: Path, group: str, total: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the running sink has stored ``total`` records' offsets, asking it through its query server."""
    sql = "SELECT coalesce(sum(next_offset), 0) AS n FROM kafka_offsets WHERE grp = :g"
    while True:
        assert proc.poll() is None, "the sink exited early"
        result = run_remote(db, sql, {"g": group})
        if result is not None and result.rows[0][0] >= total:
            return
        time.sleep(0.05)  # polling pace only; nothing is asserted about time


def test_sigkill_and_restart(kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path) -> None:
    topics = _topics(unique_name)
    group = unique_name("g")
    data = dataset(12)
    records = data.records(topics)
    reference = reference_db(tmp_path / "reference.duckdb", data)
    db = tmp_path / "sink.duckdb"
    half = len(records) // 2
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    produce_records(kafka_bootstrap, records[:half])

    first = _spawn_sink(kafka_bootstrap, db, topics, group)
    try:
        _wait_stored(db, group, half, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert server_file(db).exists()  # a killed sink can't clean up ...
    assert run_remote(db, "SELECT 1") is None  # ... and its stale announcement is recognised

    produce_records(kafka_bootstrap, records[half:])  # the stream goes on while no sink runs
    second = _spawn_sink(kafka_bootstrap, db, topics, group)
    try:
        _wait_stored(db, group, len(records), second)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait() == 0
    assert not server_file(db).exists()

    ends, _ = asyncio.run(_ends_and_committed(kafka_bootstrap, topics, group))
    assert stored_offsets(db, group) == ends
    got, want = table_rows(db), table_rows(reference)
    for table in want:
        assert got[table] == want[table], table


def test_undecodable_records_become_rejects(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    topics = _topics(unique_name)
    group = unique_name("g")
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    bad: list[Record] = [
        (topics.events, b"k", b'{"type": "credential.used", "token": "Bearer abcdefghijklmnop"}', None),
        (topics.findings, b"k", b"not json", None),
    ]
    produce_records(kafka_bootstrap, bad)
    db = tmp_path / "sink.duckdb"
    stats = _sink(kafka_bootstrap, db, topics, group, until=len(bad))
    assert stats.undecodable == 2
    with Store.open(db, read_only=True) as store:
        rows = store.rows("SELECT source, location, raw FROM rejects ORDER BY source")
    assert [r[0] for r in rows] == [f"kafka:{topics.events}", f"kafka:{topics.findings}"]
    assert rows[0][1].startswith(f"{topics.events}/") and "@0" in rows[0][1]
    assert "abcdefghijklmnop" not in rows[0][2]  # fingerprinted like any raw record
