"""Driving the Kafka worker (and the sink) in tests: input, completion, and the replay to compare with.

Completion is read from Kafka, never from a clock: the pipeline is done when every stage's
consumer group has committed up to the end of its input topics, checked in topology order
(events -> resolver -> by-identity -> the sink's topics). Each stage commits only after its
outputs are acknowledged, and the judge commits a record only once every event it brought is
released and stored (an event held for ordering keeps its record uncommitted) - so once that is
all true, nothing more can appear downstream.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contract.events import Event
from contract.records import Finding
from nhi.cli import main as nhi_main
from store import Store
from tests.kafka_fixtures import REPO_ROOT
from tests.kafka_helpers import produce, read_topics
from transport.codec import decode_finding, encode_event, event_key
from transport.producer import EventProducer
from transport.topics import Topics

HANG_GUARD_S = 240.0  # only a guard against a hung pipeline: no test asserts on durations

# What the worker + sink store and replay stores must agree on; volatile columns left out.
COMPARED = {
    "events": "id",
    "findings": "finding_id, detector, severity, status, nhi, credential, task, reason, first_seen, last_seen, "
    "resolved_at, evidence",
    "finding_history": "finding_id, activity, status, severity, time, evidence",
    "trust_scores": "nhi, time, score, previous, factors, event_id",
    "credentials": "*",
    "tasks": "*",
    # Fresh after each checkpoint in one run; after a crash an NHI's row waits for its next
    # trust change (the change it would re-send is not in the stored state), so kill tests skip it.
    "identities": "*",
}


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]], extra_lines: Iterable[bytes] = ()) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"".join(extra_lines))
    return path


def replay_db(path: Path, jsonl: Path) -> Path:
    """`nhi replay` (settings from the NHI_* environment, as the worker's) into a fresh store."""
    assert nhi_main(["replay", "--db", str(path), "--quiet", str(jsonl)]) == 0
    return path


def store_view(path: Path, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    with Store.open(path, read_only=True) as store:
        return {
            t: store.rows(f"SELECT {cols} FROM {t} ORDER BY ALL")
            for t, cols in COMPARED.items()
            if t not in skip
        }


def findings_view(findings: Iterable[Finding]) -> dict[str, tuple[Any, ...]]:
    """Latest state of each finding: what parity is judged on."""
    latest: dict[str, Finding] = {}
    for f in findings:
        latest[f.finding_id] = f
    return {fid: (f.detector, f.status, f.severity, tuple(f.evidence)) for fid, f in latest.items()}


def store_findings(path: Path) -> dict[str, tuple[Any, ...]]:
    with Store.open(path, read_only=True) as store:
        rows = store.rows("SELECT finding_id, detector, status, severity, evidence FROM findings")
    return {r[0]: (r[1], r[2], r[3], tuple(r[4])) for r in rows}


async def produce_events(
    bootstrap: str, topics: Topics, events: Iterable[Event], *, batched: bool = True, batch_events: int = 200
) -> int:
    """``events`` on the events topic: in batch records as `nhi ingest` sends them, or
    (``batched=False``) one native event per record, keyed by NHI, as any producer may."""
    if batched:
        producer = EventProducer(bootstrap, topics, compression="lz4", batch_events=batch_events)
        await producer.start()
        try:
            for e in events:
                await producer.send_event(e)
        finally:
            await producer.stop()
        return producer.sent
    records: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]] = [
        (topics.events, event_key(e), encode_event(e), None) for e in events
    ]
    await produce(bootstrap, records)
    return len(records)


async def topic_findings(bootstrap: str, topics: Topics) -> list[Finding]:
    msgs = (await read_topics(bootstrap, [topics.findings]))[topics.findings]
    return [decode_finding(m.value or b"") for m in sorted(msgs, key=lambda m: (m.partition, m.offset))]


async def caught_up(bootstrap: str, group: str, names: list[str]) -> bool:
    """True when ``group`` has committed every partition of ``names`` up to its end offset."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
        tps = []
        for name in names:
            parts = consumer.partitions_for_topic(name)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(name) or set()
            tps += [TopicPartition(name, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        return all(committed.get(tp, 0) >= end for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def pipeline_done(bootstrap: str, topics: Topics, worker_group: str, sink_group: str | None) -> bool:
    for names in ([topics.events], [topics.resolver], [topics.by_identity]):
        if not await caught_up(bootstrap, worker_group, names):
            return False
    sink_topics = [topics.events, topics.dlq, topics.findings, topics.trust, topics.entities]
    return sink_group is None or await caught_up(bootstrap, sink_group, sink_topics)


async def wait_done(
    bootstrap: str,
    topics: Topics,
    worker_group: str,
    sink_group: str | None = None,
    *,
    procs: Iterable[Any] = (),
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    while not await pipeline_done(bootstrap, topics, worker_group, sink_group):
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode}"
        assert loop.time() < deadline, (
            f"the pipeline did not finish (hang guard): {await _behind(bootstrap, topics, worker_group, sink_group)}"
        )
        await asyncio.sleep(0.5)


async def _behind(bootstrap: str, topics: Topics, worker_group: str, sink_group: str | None) -> str:
    """(group, topic, partition): (committed, end) of what is not consumed yet, for the hang message."""
    from transport.probes import committed_offsets, end_offsets

    ends = await end_offsets(bootstrap, [topics.events, topics.resolver, topics.by_identity, *topics.all()])
    out = {}
    for group in (worker_group, sink_group):
        if group is None:
            continue
        done = await committed_offsets(bootstrap, group)
        inputs = (
            {topics.events, topics.resolver, topics.by_identity}
            if group == worker_group
            else set(topics.all())
        )
        out.update(
            {
                (group[-6:], t, p): (done.get((t, p), 0), e)
                for (t, p), e in ends.items()
                if t in inputs and done.get((t, p), 0) < e
            }
        )
    return str(out)


def spawn(
    command: str, bootstrap: str, topics: Topics, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`nhi <command>` in a subprocess (so it can be SIGKILLed), topics by prefix and partition count."""
    full_env = {
        **os.environ,
        "NHI_TOPIC_PARTITIONS": str(topics.partitions),
        "NHI_KAFKA_COMPRESSION": "none",
        **(env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "nhi",
        command,
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        topics.prefix,
        *args,
    ]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=full_env)


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM and wait: the clean stop path."""
    if proc.poll() is None:
        proc.terminate()
    return proc.wait(timeout=timeout)
