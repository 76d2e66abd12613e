"""Kafka benchmarks on the local broker, each against a ceiling measured in the same run.

    python -m bench kafka [--json] [--events N] [--bootstrap HOST:PORT] [--profile FILE]

    consume   raw aiokafka ``getmany`` of a topic of canonical events: the worker's ceiling
    faust     a faust agent taking the same topic in the worker's batches and doing nothing:
              the floor faust itself puts under the worker's cost per record
    worker    the worker end to end, in this process: events in -> findings and trust out
              (reorder window 0, so nothing waits for event time; the rate runs from its first
              event batch to its last output)
    sink      ``run_sink`` storing the events topic, against a raw orjson -> Arrow -> DuckDB
              insert of the same events (store.raw_load)
    latency   produce -> finding/trust at a fixed offered load (5k events/s; 1k/s and 200/s show
              the latency of a worker that keeps up), the worker in a subprocess: p50/p99 in ms

The broker: --bootstrap, else NHI_KAFKA_BOOTSTRAP, else .kafka/bootstrap; 127.0.0.1/localhost only.
Every topic is created under a fresh prefix and deleted afterwards; counts and time are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.report import row
from contract.events import event_from_record
from contract.settings import Settings
from store.raw_load import raw_insert_seconds
from streams.faust_app import Worker, take_floor
from streams.worker import run_worker
from synthetic import generate
from transport.admin import ensure_topics
from transport.codec import encode_event, event_key
from transport.sink import SinkBatch, run_sink
from transport.topics import Topics

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 8
QUIET_S = 3.0  # no new output for this long (and nothing left to read) = the worker is done
GUARD_S = 300.0  # upper bound on any one phase
LOADS = (5000, 1000, 200)  # offered events/s for the latency rows
LATENCY_S = 4.0  # seconds of paced production per latency row
P99_GOAL_MS = 250.0


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


def canonical_events(identities: int, n: int) -> list[tuple[bytes, bytes]]:
    org = generate(seed=11, identities=identities)
    out = []
    for rec in org.records[:n]:
        e = event_from_record(rec)
        out.append((event_key(e), encode_event(e)))
    return out


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    """Seconds for a bare consumer to read ``n`` records of ``topic`` from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        start = time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
            if time.perf_counter() - start > GUARD_S:
                raise SystemExit("bench kafka: raw consume did not finish")
        return time.perf_counter() - start
    finally:
        await consumer.stop()


async def worker_rate(bootstrap: str, topics: Topics, n: int, profile: str | None) -> tuple[float, Worker]:
    """The worker in this process over ``n`` pre-produced events; seconds from first batch to last output."""
    settings = Settings(reorder_window_s=0)
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


async def _worker_done(bootstrap: str, topics: Topics, w: Worker, n: int) -> bool:
    """Every stage has taken every record its topic has, nothing is held, and the outputs stopped."""
    if w.stats.events < n or w.judge.held or w.stats.last_out is None:
        return False
    ends = await end_offsets(bootstrap, [topics.resolver, topics.by_identity])
    taken = (
        w.resolve.ops + w.resolve.bad >= ends[topics.resolver] and w.judge.records >= ends[topics.by_identity]
    )
    return taken and time.monotonic() - w.stats.last_out > QUIET_S


async def end_offsets(bootstrap: str, names: list[str]) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in names for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        return {t: sum(end for tp, end in ends.items() if tp.topic == t) for t in names}
    finally:
        await consumer.stop()


async def sink_rate(bootstrap: str, topics: Topics, n: int) -> float:
    """``run_sink`` over the events topic; seconds from the first stored batch to the last (startup excluded)."""
    stop = asyncio.Event()
    marks: list[tuple[float, int]] = []
    stored = 0

    def on_batch(b: SinkBatch) -> None:
        nonlocal stored
        stored += b.records
        marks.append((time.perf_counter(), b.records))
        if stored >= n:
            stop.set()

    with tempfile.TemporaryDirectory(prefix="nhi-bench-sink-") as tmp:
        sink_topics = Topics(prefix=topics.prefix, partitions=topics.partitions)
        task = asyncio.create_task(
            run_sink(
                bootstrap,
                str(Path(tmp) / "b.duckdb"),
                sink_topics,
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
    first_t, first_n = marks[0]
    return (marks[-1][0] - first_t) * n / max(1, n - first_n)  # the first batch's own time is unseen


async def latency(
    bootstrap: str, prefix: str, records: list[tuple[bytes, bytes]], rate: int
) -> dict[str, Any]:
    """Pace ``records`` at ``rate``/s into a worker subprocess; produce -> output latencies."""
    topics = Topics(prefix=f"{prefix}lat{rate}.", partitions=PARTITIONS)
    await ensure_topics(bootstrap, topics)
    env = {
        **os.environ,
        "NHI_REORDER_WINDOW_S": "0",
        "NHI_TOPIC_PARTITIONS": str(PARTITIONS),
        "NHI_KAFKA_COMPRESSION": "none",
    }
    cmd = [
        sys.executable,
        "-m",
        "nhi",
        "worker",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        topics.prefix,
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    sent_at: dict[str, float] = {}
    counted: set[tuple[str, bytes | None, str]] = set()
    got: list[float] = []
    consumer = AIOKafkaConsumer(
        topics.findings,
        topics.trust,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    last_output = 0.0
    outputs = 0

    async def collect() -> None:
        nonlocal last_output, outputs
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for msgs in batches.values():
                for m in msgs:
                    d = orjson.loads(m.value)
                    cause = d.get("event_id") or (d.get("evidence") or [None])[-1]
                    # The first output an event caused; a checkpoint re-sends a trust change
                    # (same event id) to refresh the identity row, which is not a new result.
                    if cause in sent_at and (m.topic, m.key, cause) not in counted:
                        counted.add((m.topic, m.key, cause))
                        got.append(now - sent_at[cause])
                    last_output = now
                    outputs += 1

    reader = asyncio.create_task(collect())
    try:
        warm, timed = records[:200], records[200 : 200 + int(rate * LATENCY_S)]
        # Warm-up (not measured): the worker has joined, recovered and answered these first.
        await asyncio.gather(*[await producer.send(topics.events, value=v, key=k) for k, v in warm])
        deadline = time.monotonic() + GUARD_S
        while not (outputs and time.perf_counter() - last_output > 1.0):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("bench kafka: the latency worker did not start")
            await asyncio.sleep(0.2)
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        start = time.perf_counter()
        for i in range(0, len(timed), per_tick):
            due = start + (i / per_tick) * tick
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            for k, v in timed[i : i + per_tick]:
                sent_at[orjson.loads(v)["id"]] = time.perf_counter()
                await producer.send(topics.events, value=v, key=k)
        await producer.flush()
        offered_s = time.perf_counter() - start
        # Done when the worker has committed all it was given and the outputs have stopped.
        group = f"{topics.prefix}worker"
        while not (
            time.perf_counter() - last_output > QUIET_S and await _caught_up(bootstrap, group, topics)
        ):
            if time.perf_counter() - start > GUARD_S or proc.poll() is not None:
                raise SystemExit("bench kafka: the latency worker did not finish")
            await asyncio.sleep(0.5)
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
        proc.terminate()
        proc.wait(timeout=60)
    lat = sorted(got)
    pct = (
        (lambda q: round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] * 1000, 1))
        if lat
        else (lambda q: None)
    )
    return {
        "events": len(timed),
        "seconds": offered_s,
        "outputs": len(lat),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


async def _caught_up(bootstrap: str, group: str, topics: Topics) -> bool:
    names = [topics.events, topics.resolver, topics.by_identity]
    ends = await end_offsets(bootstrap, names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return all(sum(m.offset for tp, m in committed.items() if tp.topic == t) >= ends[t] for t in names)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def _run(args: argparse.Namespace) -> list[dict[str, object]]:
    bootstrap = bootstrap_of(args)
    n = args.events
    records = canonical_events(args.identities, n + 200 + int(max(LOADS) * LATENCY_S))
    main = records[:n]
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix=prefix, partitions=PARTITIONS)
    rows: list[dict[str, object]] = []
    try:
        await ensure_topics(bootstrap, topics)
        await produce(bootstrap, topics.events, main)
        consume_s = min([await raw_consume(bootstrap, topics.events, n) for _ in range(max(1, args.repeat))])
        consume_rate = n / consume_s
        rows.append(row("consume", n, consume_s, consume_rate))
        floor_s = await take_floor(bootstrap, topics.events, PARTITIONS, n, f"{prefix}floor")
        rows.append(row("faust", n, floor_s, consume_rate))
        worker_s, w = await worker_rate(bootstrap, topics, n, args.profile)
        rows.append(
            row(
                "worker",
                n,
                worker_s,
                consume_rate,
                goal_ratio=0.5,
                findings=w.stats.findings,
                trust=w.stats.trust,
                judged=w.stats.judged,
            )
        )
        values = [v for _, v in main]
        insert_s = min(raw_insert_seconds(values) for _ in range(max(1, args.repeat)))
        sink_s = await sink_rate(bootstrap, topics, n)
        rows.append(row("sink", n, sink_s, n / insert_s, goal_ratio=0.5))
        rest = records[n:]
        for rate in LOADS:
            m = await latency(bootstrap, prefix, rest, rate)
            rows.append(
                row(
                    f"latency@{rate}",
                    m["events"],
                    m["seconds"],
                    rate,
                    outputs=m["outputs"],
                    p50_ms=m["p50_ms"],
                    p99_ms=m["p99_ms"],
                    goal_p99_ms=P99_GOAL_MS,
                )
            )
    finally:
        await delete_topics(bootstrap, prefix)
    return rows


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    return asyncio.run(_run(args))
