"""Following the engine's output on Kafka: every finding change of the ``findings`` topic, and the
identity snapshots that travel on ``trust`` (so alert routes can match on owner).

Offsets are committed only when the caller has nothing pending, i.e. every change consumed so far
is handled (for alerts: delivered or dead-lettered): a crash re-delivers rather than loses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from contract.errors import TransportError
from contract.records import Finding, IdentityRow
from transport.codec import decode_finding, decode_trust
from transport.config import client_options
from transport.topics import Topics


@dataclass(slots=True)
class ConsumeStats:
    findings: int = 0
    identities: int = 0
    undecodable: int = 0
    commits: int = 0


async def consume_findings(
    bootstrap: str,
    topics: Topics,
    group: str,
    handle: Callable[[Finding], None],
    *,
    on_identity: Callable[[IdentityRow], None],
    pending: Callable[[], int],
    stop: asyncio.Event,
    commit_every_s: float = 5.0,
    final_drain_s: float = 30.0,
) -> ConsumeStats:
    """Consume until ``stop`` is set, handing finding changes to ``handle`` and identity snapshots
    to ``on_identity``; ``pending`` tells when a commit is safe (0 = all handled).

    After ``stop``, waits up to ``final_drain_s`` for the deliveries to finish and commits if they did.
    """
    stats = ConsumeStats()
    consumer = AIOKafkaConsumer(
        topics.findings,
        topics.trust,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(),
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise TransportError(f"can't consume {topics.findings} from {bootstrap}: {exc}") from exc
    last_commit = time.monotonic()
    uncommitted = False
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batches.items():
                for rec in records:
                    if rec.value is None:
                        continue
                    uncommitted = True
                    try:
                        if tp.topic == topics.findings:
                            finding = decode_finding(rec.value)
                        else:
                            _, ident = decode_trust(rec.value)
                            if ident is not None:
                                on_identity(ident)
                                stats.identities += 1
                            continue
                    except (ValueError, KeyError, TypeError):
                        stats.undecodable += 1  # not ours to fix here; the sink keeps the topic's truth
                        continue
                    stats.findings += 1
                    handle(finding)
            due = time.monotonic() - last_commit >= commit_every_s
            if uncommitted and due and pending() == 0:
                await consumer.commit()
                stats.commits += 1
                uncommitted, last_commit = False, time.monotonic()
        deadline = time.monotonic() + final_drain_s
        while pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if uncommitted and pending() == 0:
            await consumer.commit()
            stats.commits += 1
    finally:
        await consumer.stop()
    return stats
