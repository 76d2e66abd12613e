"""Kafka probes for the benchmarks and operators' checks (transport module: the Kafka clients).

A raw read of a topic (the ceiling the worker is measured against), end and committed offsets,
a follower of the engine's outputs with arrival times, a paced producer of batch records, and
topic deletion by prefix.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from contract.events import Event
from transport.codec import encode_event, event_key
from transport.producer import EventProducer
from transport.topics import Topics


async def produce_single(bootstrap: str, topic: str, events: Sequence[Event]) -> None:
    """One native event per record, keyed as `nhi ingest` keys them (the pre-batch layout)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=encode_event(e), key=event_key(e)) for e in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_batches(
    bootstrap: str, topics: Topics, events: Sequence[Event], *, batch_events: int = 1000, linger_ms: int = 50
) -> int:
    """``events`` in batch records, exactly as `nhi ingest` sends them; returns events acknowledged."""
    producer = EventProducer(bootstrap, topics, batch_events=batch_events, linger_ms=linger_ms)
    await producer.start()
    try:
        for e in events:
            await producer.send_event(e)
    finally:
        await producer.stop()
    return producer.sent


async def raw_consume(
    bootstrap: str, topic: str, partitions: int, records: int, guard_s: float = 300
) -> float:
    """Seconds for a bare consumer to fetch ``records`` records of ``topic`` from the beginning."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        start = time.perf_counter()
        while seen < records:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(rs) for rs in batches.values())
            if time.perf_counter() - start > guard_s:
                raise TimeoutError(f"raw consume of {topic} did not finish")
        return time.perf_counter() - start
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, names: Sequence[str]) -> dict[tuple[str, int], int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = []
        for name in names:
            parts = consumer.partitions_for_topic(name)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(name) or set()
            tps += [TopicPartition(name, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        got = await admin.list_consumer_group_offsets(group)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in got.items()}
    finally:
        await admin.close()


async def caught_up(bootstrap: str, group: str, names: Sequence[str]) -> bool:
    """``group`` has committed every partition of ``names`` up to its end offset."""
    ends = await end_offsets(bootstrap, names)
    done = await committed_offsets(bootstrap, group)
    return all(done.get(tp, 0) >= end for tp, end in ends.items())


async def delete_topics(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


class OutputFollower:
    """Reads the findings and trust topics as they grow, calling ``on_record(topic, key, value, now)``."""

    def __init__(
        self, bootstrap: str, topics: Topics, on_record: Callable[[str, bytes | None, bytes, float], None]
    ):
        self.bootstrap = bootstrap
        self.topics = topics
        self.on_record = on_record
        self.last_at = 0.0
        self.count = 0
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer

        self._consumer = AIOKafkaConsumer(
            self.topics.findings,
            self.topics.trust,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for tp, msgs in batches.items():
                for m in msgs:
                    self.on_record(tp.topic, m.key, m.value, now)
                    self.last_at = now
                    self.count += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()


class PacedProducer:
    """`nhi ingest`'s producer, fed at a fixed rate: for produce -> output latency."""

    def __init__(self, bootstrap: str, topics: Topics, linger_ms: int = 5) -> None:
        self.producer = EventProducer(bootstrap, topics, batch_events=1000, linger_ms=linger_ms)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def run(
        self,
        events: Sequence[Event],
        rate: int,
        on_sent: Callable[[Event, float], None],
        *,
        live: bool = False,
    ) -> float:
        """Send ``events`` at ``rate``/s in 10 ms ticks; returns the seconds it took. ``live``: each
        event's time is set to the wall clock as it is sent (event time keeps pace with wall time,
        as on a live source; ids stay, so outputs still name their cause)."""
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        start = time.perf_counter()
        for i in range(0, len(events), per_tick):
            due = start + (i / per_tick) * tick
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            stamp = datetime.now(UTC)
            for e in events[i : i + per_tick]:
                on_sent(e, now)
                await self.producer.send_event(dataclasses.replace(e, time=stamp) if live else e)
            await self.producer.send_batches()
        await self.producer.flush()
        return time.perf_counter() - start
