"""The Kafka worker against a real broker: the same findings as `nhi replay`, DLQ routing, and a
clean restart that resumes from the changelogs without repeating a finding.

Reorder windows: Kafka keeps order per partition only, and a backlog is consumed with partitions
far apart in event time (a whole day of history arrives within a second). So each parity test
uses a window covering its scenario, as a backfill through Kafka must; replay gets the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from contract.events import Event
from contract.settings import Settings, load_settings
from nhi.cli import main as nhi_main
from store import Store
from streams.faust_app import Worker
from streams.worker import run_worker
from streams.worker_stats import WorkerStats
from synthetic import generate
from tests.kafka_helpers import produce, read_topics
from tests.scenario import events, rec
from tests.test_engine_semantics import A, story
from tests.worker_harness import (
    caught_up,
    findings_view,
    produce_events,
    replay_db,
    store_findings,
    store_view,
    topic_findings,
    wait_done,
    write_jsonl,
)
from transport.admin import ensure_topics
from transport.sink import run_sink
from transport.topics import Topics

pytestmark = pytest.mark.kafka

NOT_AN_EVENT = b'{"type": "credential.used", "nhi": "x"}'  # no time: fails the contract


async def _worker_and_sink(
    bootstrap: str, topics: Topics, db: Path, app_id: str, events_in: list[Event]
) -> WorkerStats:
    await ensure_topics(bootstrap, topics)
    # One native event per record, keyed by NHI, as a producer written against the contract
    # sends them (the other tests send `nhi ingest`'s batch records).
    await produce_events(bootstrap, topics, events_in, batched=False)
    return await _run_worker_and_sink(bootstrap, topics, db, app_id, load_settings())


async def _run_worker_and_sink(
    bootstrap: str, topics: Topics, db: Path, app_id: str, settings: Settings
) -> WorkerStats:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(bootstrap, topics, settings, stop, app_id=app_id))
    sink = asyncio.create_task(run_sink(bootstrap, str(db), topics, f"{app_id}-sink", stop, query_port=None))
    try:
        await wait_done(bootstrap, topics, app_id, f"{app_id}-sink")
    finally:
        stop.set()
        stats, _ = await asyncio.gather(worker, sink)
    return stats


def test_story_through_ingest_worker_and_sink_stores_what_replay_stores(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NHI_REORDER_WINDOW_S", "600")  # the story spans 9 minutes
    monkeypatch.setenv("NHI_TOPIC_PARTITIONS", "4")
    topics = Topics(prefix=unique_name("w") + ".", partitions=4)
    jsonl = write_jsonl(tmp_path / "story.jsonl", story())
    reference = replay_db(tmp_path / "replay.duckdb", jsonl)
    # `nhi ingest` sends the events, and a line that isn't one to the DLQ (line 13) ...
    with jsonl.open("ab") as fh:
        fh.write(NOT_AN_EVENT + b"\n")
    ingest = [
        "ingest",
        "--bootstrap",
        kafka_bootstrap,
        "--topic-prefix",
        topics.prefix,
        "--quiet",
        str(jsonl),
    ]
    assert nhi_main(ingest) == 0
    db = tmp_path / "kafka.duckdb"
    app_id = unique_name("worker")

    async def go() -> WorkerStats:
        # ... and a record that isn't a canonical event reaches the events topic anyway.
        await produce(kafka_bootstrap, [(topics.events, b"bad", NOT_AN_EVENT, None)])
        return await _run_worker_and_sink(kafka_bootstrap, topics, db, app_id, load_settings())

    stats = asyncio.run(go())
    assert store_view(db) == store_view(reference)
    assert store_findings(db) == store_findings(reference)
    assert len(store_findings(reference)) == 4
    assert (stats.events, stats.rejects, stats.late, stats.held) == (12, 1, 0, 0)
    with Store.open(db, read_only=True) as store:
        rejects = sorted(store.rows("SELECT source, location FROM rejects"))
    # One reject each: the parse failure via the DLQ (with file:line), the bad event stored by the
    # sink from the events topic; the worker skips the latter rather than adding a DLQ copy.
    assert [r[0] for r in rejects] == [f"kafka:{topics.events}", "native"]
    assert rejects[1][1].endswith("story.jsonl:13")


def test_generated_organisation_through_kafka_matches_replay(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NHI_REORDER_WINDOW_S", "86400")  # the organisation's day of history
    org = generate(seed=7, identities=126)
    reference = replay_db(tmp_path / "replay.duckdb", write_jsonl(tmp_path / "org.jsonl", org.records))
    topics = Topics(prefix=unique_name("w") + ".", partitions=8)
    db = tmp_path / "kafka.duckdb"
    stats = asyncio.run(
        _worker_and_sink(kafka_bootstrap, topics, db, unique_name("worker"), events(org.records))
    )

    expected = store_view(reference)
    got = store_view(db)
    for table in expected:
        assert got[table] == expected[table], table
    assert len(expected["findings"]) > 10
    assert stats.events == len(org.records) and stats.late == 0
    findings = asyncio.run(topic_findings(kafka_bootstrap, topics))
    assert findings_view(findings) == store_findings(reference)


def test_clean_restart_resumes_from_changelogs_without_repeating_findings(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A's first record is its newest (minute 9.5): with the 5-minute window the events before
    # minute 4.5 are released and applied, the later ones held for ordering; the stop comes before
    # any idle release, so their record stays uncommitted and the second worker re-reads it: it
    # must skip what the stored states already hold and apply the rest once.
    topics = Topics(prefix=unique_name("w") + ".", partitions=1)
    records = [rec("credential.used", 9.5, nhi=A, credential="jti-1"), *story()]
    reference = replay_db(tmp_path / "replay.duckdb", write_jsonl(tmp_path / "in.jsonl", records))
    app_id = unique_name("worker")

    async def go() -> tuple[WorkerStats, WorkerStats, int]:
        await ensure_topics(kafka_bootstrap, topics)
        await produce_events(kafka_bootstrap, topics, events(records))
        # First run: no idle release, so what the window holds stays held (and uncommitted) at the stop.
        held = await _run_until_consumed(kafka_bootstrap, topics, app_id, idle_flush_s=3600)
        stop = asyncio.Event()
        second = asyncio.create_task(
            run_worker(kafka_bootstrap, topics, load_settings(), stop, app_id=app_id)
        )
        try:
            await wait_done(kafka_bootstrap, topics, app_id)
        finally:
            stop.set()
        return held, await second, len(records)

    first, second, n = asyncio.run(go())
    assert first.held > 0 and first.judged > 0
    assert second.skipped > 0 and second.held == 0  # re-read, and what the states held skipped
    findings = asyncio.run(topic_findings(kafka_bootstrap, topics))
    changes = [(f.finding_id, f.activity, f.status, tuple(f.evidence)) for f in findings]
    assert len(changes) == len(set(changes)), "a finding change was emitted twice"
    assert findings_view(findings) == store_findings(reference)
    assert n == first.events


async def _run_until_consumed(
    bootstrap: str, topics: Topics, app_id: str, idle_flush_s: float
) -> WorkerStats:
    """Run a worker until every stage has taken every record there is, then stop it cleanly."""
    settings = load_settings(idle_flush_s=idle_flush_s)
    stop = asyncio.Event()
    started: list[Worker] = []
    task = asyncio.create_task(
        run_worker(bootstrap, topics, settings, stop, app_id=app_id, on_start=started.append)
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    try:
        while True:
            await asyncio.sleep(0.2)
            assert loop.time() < deadline, "the first run did not consume its input (hang guard)"
            if not started:
                continue
            w = started[0]
            got = await read_topics(bootstrap, [topics.events, topics.by_identity])
            total = len(got[topics.events]) + len(got[topics.by_identity])
            # by-identity is complete only once resolve has nothing left to route
            if w.judge.records == total and await _resolver_done(bootstrap, topics, app_id):
                got = await read_topics(bootstrap, [topics.events, topics.by_identity])
                if len(got[topics.events]) + len(got[topics.by_identity]) == w.judge.records:
                    break
    finally:
        stop.set()
    return await task


async def _resolver_done(bootstrap: str, topics: Topics, app_id: str) -> bool:
    # Not the events topic: a record with events held for ordering stays uncommitted.
    return await caught_up(bootstrap, app_id, [topics.resolver])
