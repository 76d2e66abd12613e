"""Kafka benchmarks on the local broker, each against a ceiling measured in the same run.

    python -m bench kafka [--json] [--events N] [--bootstrap HOST:PORT] [--profile FILE]

    consume        raw aiokafka ``getmany`` of the events topic as `nhi ingest` fills it (batch
                   records): the worker's ceiling, in events/s
    consume-single the same events one per record (the layout before batch records): the ceiling
                   the issue's goal was set against, reported for comparison
    faust          a faust agent taking the batch topic in the worker's batches, doing nothing
    worker         the worker end to end, in this process: events in -> findings and trust out
                   (reorder window 0, so nothing waits for event time; the rate runs from its
                   first batch to its last output). ``ratio_single``: against consume-single
    workers@1/@2   the same with 1 and 2 `nhi worker` processes of one consumer group, started
                   before the events arrive (from the first event read to the last judged)
    sink           ``run_sink`` storing the events topic, against a raw orjson -> Arrow -> DuckDB
                   insert of the same events (store.raw_load)
    latency@R      produce -> finding/trust at a fixed offered load of R events/s, as a live
                   source sends them (each event stamped with the wall clock when sent; the
                   worker in a subprocess, window 0): p50/p99 in ms

The broker: --bootstrap, else NHI_KAFKA_BOOTSTRAP, else .kafka/bootstrap; 127.0.0.1/localhost only.
Every topic is created under a fresh prefix and deleted afterwards; counts and time are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.report import row
from bench.worker_procs import free_port, scrape, spawn_worker
from contract.events import Event, event_from_record
from contract.settings import Settings
from store.raw_load import raw_insert_seconds
from streams.faust_app import Worker, take_floor
from streams.worker import run_worker
from synthetic import generate
from transport.admin import ensure_topics
from transport.codec import encode_event
from transport.probes import (
    OutputFollower,
    PacedProducer,
    caught_up,
    delete_topics,
    end_offsets,
    produce_batches,
    produce_single,
    raw_consume,
)
from transport.sink import SinkBatch, run_sink
from transport.topics import DEFAULT_PARTITIONS, Topics

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = DEFAULT_PARTITIONS
QUIET_S = 3.0  # no new output for this long (and nothing left to read) = the worker is done
SETTLE_S = 8.0  # after every worker process serves its metrics: the group's joins settle
GUARD_S = 300.0  # upper bound on any one phase
LOADS = (5000, 20000, 1000)  # offered events/s for the latency rows
LATENCY_S = 4.0  # seconds of paced production per latency row
P99_GOAL_MS = 250.0
# The worker rows: window 0 (nothing waits for event time) and a short idle release, so a finite
# input ends soon after it is read.
WORKER_ENV = {"NHI_REORDER_WINDOW_S": "0", "NHI_IDLE_FLUSH_S": "0.3"}


def bootstrap_of(args: argparse.Namespace) -> str:
    given = getattr(args, "bootstrap", None) or os.environ.get("NHI_KAFKA_BOOTSTRAP", "").strip()
    if not given:
        state = ROOT / ".kafka" / "bootstrap"
        given = state.read_text().strip() if state.exists() else ""
    if not given:
        raise SystemExit("bench kafka: no broker: --bootstrap, NHI_KAFKA_BOOTSTRAP or `make kafka-up`")
    for hp in given.split(","):
        if hp.strip().rpartition(":")[0] not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"bench kafka: {hp} is not a local broker (127.0.0.1 only)")
    return given


def canonical_events(identities: int, n: int) -> list[Event]:
    org = generate(seed=11, identities=identities)
    return [event_from_record(rec) for rec in org.records[:n]]


async def worker_rate(bootstrap: str, topics: Topics, n: int, profile: str | None) -> tuple[float, Worker]:
    """The worker in this process over ``n`` pre-produced events; seconds from first batch to last output."""
    settings = Settings(reorder_window_s=0, idle_flush_s=float(WORKER_ENV["NHI_IDLE_FLUSH_S"]))
    stop = asyncio.Event()
    started: list[Worker] = []
    prof = cProfile.Profile() if profile else None
    if prof is not None:
        prof.enable()
    task = asyncio.create_task(
        run_worker(
            bootstrap, topics, settings, stop, app_id=f"{topics.prefix}worker", on_start=started.append
        )
    )
    try:
        deadline = time.monotonic() + GUARD_S
        while True:
            await asyncio.sleep(0.2)
            if task.done():
                await task  # raises what stopped it
            st = started[0].stats if started else None
            last = st.last_out if st is not None else None
            if (
                st is not None
                and st.events >= n
                and st.held == 0
                and last
                and time.monotonic() - last > QUIET_S
            ):
                break
            if time.monotonic() > deadline:
                raise SystemExit("bench kafka: the worker did not finish")
    finally:
        stop.set()
        await task
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)  # type: ignore[arg-type]
    w = started[0]
    assert w.stats.first_in is not None and w.stats.last_out is not None
    return w.stats.last_out - w.stats.first_in, w


async def workers_rate(bootstrap: str, prefix: str, events: list[Event], processes: int) -> float:
    """``processes`` worker processes of one group, started (and settled) before the events are
    produced, as a running deployment is: seconds from the first event read to the last judged,
    read from their /metrics."""
    topics = Topics(prefix=f"{prefix}w{processes}.", partitions=PARTITIONS)
    await ensure_topics(bootstrap, topics)
    port = free_port()
    proc = spawn_worker(bootstrap, topics, {**WORKER_ENV, "NHI_METRICS_PORT": str(port)}, processes)
    ports = [port + i for i in range(processes)]
    try:
        deadline = time.monotonic() + GUARD_S
        while not all(scrape(p) for p in ports):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"bench kafka: {processes} worker process(es) did not start")
            await asyncio.sleep(0.5)
        await asyncio.sleep(SETTLE_S)  # the group's first rebalances, on empty topics
        producing = asyncio.create_task(produce_batches(bootstrap, topics, events))
        first = last = 0.0
        judged = -1.0
        while True:
            await asyncio.sleep(0.1)
            now = time.perf_counter()
            counts = [scrape(p) for p in ports]
            read = sum(c.get("nhi_worker_events_in_total", 0.0) for c in counts)
            total = sum(c.get("nhi_worker_events_judged_total", 0.0) for c in counts)
            if read and not first:
                first = now
            if total != judged:
                judged, last = total, now
            if producing.done() and read >= len(events) and now - last > QUIET_S:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"bench kafka: {processes} worker process(es) did not finish")
        await producing
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return last - first


async def sink_rate(bootstrap: str, topics: Topics, n: int) -> float:
    """``run_sink`` over the pipeline's topics; seconds from the moment the first batch's records
    were in hand to the last commit (startup and group join excluded, every batch's own work in)."""
    stop = asyncio.Event()
    marks: list[tuple[float, float]] = []
    stored = 0

    def on_batch(b: SinkBatch) -> None:
        nonlocal stored
        stored += b.events
        marks.append((b.started, time.perf_counter()))
        if stored >= n:
            stop.set()

    with tempfile.TemporaryDirectory(prefix="nhi-bench-sink-") as tmp:
        task = asyncio.create_task(
            run_sink(
                bootstrap,
                str(Path(tmp) / "b.duckdb"),
                topics,
                f"{topics.prefix}sink",
                stop,
                on_batch=on_batch,
                query_port=None,
            )
        )
        try:
            await asyncio.wait_for(stop.wait(), GUARD_S)
        finally:
            stop.set()
            await task
    return marks[-1][1] - marks[0][0]


async def latency(bootstrap: str, prefix: str, events: list[Event], rate: int) -> dict[str, Any]:
    """Pace ``events`` at ``rate``/s into a worker subprocess; produce -> output latencies."""
    topics = Topics(prefix=f"{prefix}lat{rate}.", partitions=PARTITIONS)
    await ensure_topics(bootstrap, topics)
    proc = spawn_worker(bootstrap, topics, WORKER_ENV)
    sent_at: dict[str, float] = {}
    counted: set[tuple[str, bytes | None, str]] = set()
    got: list[float] = []

    def on_record(topic: str, key: bytes | None, value: bytes, now: float) -> None:
        d = orjson.loads(value)
        cause = d.get("event_id") or (d.get("evidence") or [None])[-1]
        # The first output an event caused; a checkpoint re-sends a trust change (same event
        # id) to refresh the identity row, which is not a new result.
        if cause in sent_at and (topic, key, cause) not in counted:
            counted.add((topic, key, cause))
            got.append(now - sent_at[cause])

    follower = OutputFollower(bootstrap, topics, on_record)
    await follower.start()
    producer = PacedProducer(bootstrap, topics)
    await producer.start()
    try:
        warm, timed = events[:200], events[200 : 200 + int(rate * LATENCY_S)]
        # Warm-up (not measured): the worker has joined, recovered and answered these first.
        await producer.run(warm, 1000, lambda e, t: None, live=True)
        deadline = time.monotonic() + GUARD_S
        while not (follower.count and time.perf_counter() - follower.last_at > 1.0):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("bench kafka: the latency worker did not start")
            await asyncio.sleep(0.2)
        offered_s = await producer.run(timed, rate, lambda e, t: sent_at.__setitem__(e.id, t), live=True)
        group = f"{topics.prefix}worker"
        start = time.perf_counter()
        while not (
            time.perf_counter() - follower.last_at > QUIET_S
            and await caught_up(bootstrap, group, [topics.events, topics.resolver, topics.by_identity])
        ):
            if time.perf_counter() - start > GUARD_S or proc.poll() is not None:
                raise SystemExit("bench kafka: the latency worker did not finish")
            await asyncio.sleep(0.5)
    finally:
        await producer.stop()
        await follower.stop()
        proc.terminate()
        proc.wait(timeout=60)
    lat = sorted(got)

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] * 1000, 1) if lat else None

    return {
        "events": len(timed),
        "seconds": offered_s,
        "outputs": len(lat),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


async def _run(args: argparse.Namespace) -> list[dict[str, object]]:
    bootstrap = bootstrap_of(args)
    n = args.events
    events = canonical_events(args.identities, n + 200 + int(max(LOADS) * LATENCY_S))
    main = events[:n]
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix=prefix, partitions=PARTITIONS)
    single = f"{prefix}single"
    rows: list[dict[str, object]] = []
    cores = os.cpu_count()
    load1 = os.getloadavg()[0]
    try:
        await ensure_topics(bootstrap, topics)
        await produce_batches(bootstrap, topics, main)
        ends = await end_offsets(bootstrap, [topics.events])
        batch_records = sum(ends.values())
        consume_s = min(
            [
                await raw_consume(bootstrap, topics.events, PARTITIONS, batch_records)
                for _ in range(max(1, args.repeat))
            ]
        )
        consume_rate = n / consume_s
        rows.append(
            row("consume", n, consume_s, consume_rate, records=batch_records, cores=cores, load1=load1)
        )
        single_topics = Topics(prefix=single + ".", partitions=PARTITIONS)
        await ensure_topics(bootstrap, single_topics)
        await produce_single(bootstrap, single_topics.events, main)
        single_s = min(
            [
                await raw_consume(bootstrap, single_topics.events, PARTITIONS, n)
                for _ in range(max(1, args.repeat))
            ]
        )
        single_rate = n / single_s
        rows.append(row("consume-single", n, single_s, single_rate))
        floor_s = await take_floor(bootstrap, topics.events, PARTITIONS, batch_records, f"{prefix}floor")
        rows.append(row("faust", n, floor_s, consume_rate))
        worker_s, w = await worker_rate(bootstrap, topics, n, args.profile)
        per_s = n / worker_s
        rows.append(
            row(
                "worker",
                n,
                worker_s,
                consume_rate,
                goal_ratio=0.10,
                ratio_single=round(per_s / single_rate, 4),
                findings=w.stats.findings,
                trust=w.stats.trust,
                judged=w.stats.judged,
                late=w.stats.late,
            )
        )
        one = 0.0
        for processes in (1, 2):
            try:
                s = await workers_rate(bootstrap, prefix, main, processes)
            except SystemExit as exc:  # reported in its row; the other phases still run
                rows.append({"stage": f"workers@{processes}", "error": str(exc)})
                continue
            extra: dict[str, object] = {"processes": processes, "cores": cores}
            if processes == 1:
                one = n / s
            else:
                extra |= {"speedup": round((n / s) / one, 3) if one else None, "goal_speedup": 1.6}
            rows.append(row(f"workers@{processes}", n, s, consume_rate, **extra))
        values = [encode_event(e) for e in main]
        insert_s = min(raw_insert_seconds(values) for _ in range(max(1, args.repeat)))
        sink_s = await sink_rate(bootstrap, topics, n)
        rows.append(row("sink", n, sink_s, n / insert_s, goal_ratio=0.5))
        rest = events[n:]
        for rate in LOADS:
            try:
                m = await latency(bootstrap, prefix, rest, rate)
            except SystemExit as exc:
                rows.append({"stage": f"latency@{rate}", "error": str(exc)})
                continue
            rows.append(
                row(
                    f"latency@{rate}",
                    m["events"],
                    m["seconds"],
                    rate,
                    outputs=m["outputs"],
                    p50_ms=m["p50_ms"],
                    p99_ms=m["p99_ms"],
                    goal_p99_ms=P99_GOAL_MS if rate == 5000 else None,
                )
            )
    finally:
        await delete_topics(bootstrap, prefix)
    return rows


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    return asyncio.run(_run(args))
