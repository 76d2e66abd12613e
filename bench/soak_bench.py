"""The soak run: a long stream with the worker SIGKILLed every few seconds; nothing lost, nothing duplicated.

    python -m bench soak [--json] [--seconds S] [--kill-every K] [--rate R] [--bootstrap HOST:PORT]

`nhi ingest`'s producer streams a generated organisation's history at R events/s for S seconds
into a worker subprocess (default settings: the 5-minute reorder window) and the sink (in this
process). Every K seconds the worker is SIGKILLed and started again. Once everything is consumed,
the sink's store is compared, table by table, with what `nhi replay` stores from the same events:
``lost`` rows are in replay's store and not in Kafka's, ``extra`` rows the other way round. The
row also counts finding changes the worker sent twice (a crash may re-send what it had not
checkpointed; the sink stores each change once).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.kafka_bench import bootstrap_of
from bench.worker_procs import spawn_worker
from contract.events import Event, event_from_record
from contract.settings import load_settings
from store.store import Store
from streams.embedded import EmbeddedPipeline
from synthetic import generate
from transport.admin import ensure_topics
from transport.probes import OutputFollower, PacedProducer, caught_up, delete_topics
from transport.sink import run_sink
from transport.topics import Topics

PARTITIONS = 8
GUARD_S = 600.0
# Kept out: identity rows, which after a crash wait for the NHI's next trust change (see
# docs/kafka.md), and volatile columns.
COMPARED = {
    "events": "id",
    "findings": "finding_id, detector, severity, status, nhi, credential, task, reason, first_seen, "
    "last_seen, resolved_at, evidence",
    "finding_history": "finding_id, activity, status, severity, time, evidence",
    "trust_scores": "nhi, time, score, previous, factors, event_id",
    "credentials": "*",
    "tasks": "*",
}
# A SIGKILLed worker keeps its partitions until its session times out; the broker's minimum.
KILLED = {"BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1"}


def _view(db: Path) -> dict[str, set[tuple[Any, ...]]]:
    with Store.open(db, read_only=True) as store:
        return {
            t: {_hashable(r) for r in store.rows(f"SELECT {cols} FROM {t}")} for t, cols in COMPARED.items()
        }


def _hashable(value: Any) -> Any:
    """A stored row as a set member: list and struct columns (evidence, factors) as tuples."""
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _replay(db: Path, events: list[Event]) -> None:
    with Store.open(db) as store:
        pipeline = EmbeddedPipeline(load_settings(), store)
        pipeline.feed(events)
        pipeline.finish()


def _worker(bootstrap: str, topics: Topics) -> subprocess.Popen[bytes]:
    return spawn_worker(bootstrap, topics, KILLED)


async def _soak(args: argparse.Namespace) -> dict[str, object]:
    bootstrap = bootstrap_of(args)
    n = int(args.rate * args.seconds)
    records = generate(seed=13, identities=max(126, args.identities)).records
    if len(records) < n:
        raise SystemExit(f"bench soak: the organisation has {len(records)} events; lower --rate or --seconds")
    events = [event_from_record(r) for r in records[:n]]
    prefix = f"soak-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix=prefix, partitions=PARTITIONS)
    group, app_id = f"{prefix}sink", f"{prefix}worker"
    sent: dict[tuple[str, str, str, str], int] = {}

    def changes(topic: str, key: bytes | None, value: bytes, now: float) -> None:
        if topic == topics.findings:
            d = orjson.loads(value)
            k = (d["finding_id"], d["activity"], d["status"], orjson.dumps(d["evidence"]).decode())
            sent[k] = sent.get(k, 0) + 1

    kills = 0
    with tempfile.TemporaryDirectory(prefix="nhi-soak-") as tmp:
        db, ref = Path(tmp) / "kafka.duckdb", Path(tmp) / "replay.duckdb"
        try:
            await ensure_topics(bootstrap, topics)
            halt = asyncio.Event()
            sink = asyncio.create_task(run_sink(bootstrap, str(db), topics, group, halt, query_port=None))
            follower = OutputFollower(bootstrap, topics, changes)
            await follower.start()
            worker = _worker(bootstrap, topics)
            producer = PacedProducer(bootstrap, topics, linger_ms=20)
            await producer.start()

            async def killer() -> None:
                nonlocal worker, kills
                while True:
                    await asyncio.sleep(args.kill_every)
                    worker.kill()
                    worker.wait()
                    kills += 1
                    worker = _worker(bootstrap, topics)

            killing = asyncio.create_task(killer())
            started = time.perf_counter()
            try:
                await producer.run(events, args.rate, lambda e, t: None)
            finally:
                killing.cancel()
                await producer.stop()
            names = [topics.events, topics.resolver, topics.by_identity]
            sinks = [topics.events, topics.findings, topics.trust, topics.entities]
            deadline = time.monotonic() + GUARD_S
            while not (
                await caught_up(bootstrap, app_id, names) and await caught_up(bootstrap, group, sinks)
            ):
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit("bench soak: the pipeline did not finish")
                await asyncio.sleep(1.0)
            seconds = time.perf_counter() - started
            worker.terminate()
            worker.wait(timeout=60)
            halt.set()
            await sink
            await follower.stop()
        finally:
            await delete_topics(bootstrap, prefix)
        _replay(ref, events)
        got, want = _view(db), _view(ref)
    lost = {t: len(want[t] - got[t]) for t in COMPARED}
    extra = {t: len(got[t] - want[t]) for t in COMPARED}
    return {
        "stage": "soak",
        "events": n,
        "seconds": round(seconds, 1),
        "rate": args.rate,
        "kills": kills,
        "kill_every_s": args.kill_every,
        "lost": sum(lost.values()),
        "extra": sum(extra.values()),
        "lost_by_table": lost,
        "extra_by_table": extra,
        "finding_changes_sent_twice": sum(1 for c in sent.values() if c > 1),
        "finding_changes": len(sent),
    }


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    return [asyncio.run(_soak(args))]
