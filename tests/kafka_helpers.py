"""Reading whole topics back in tests: every record up to the end offsets at the time of the call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass(frozen=True, slots=True)
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    def all_bytes(self) -> bytes:
        parts = [self.key or b"", self.value or b""]
        for name, value in self.headers.items():
            parts += [name.encode(), value]
        return b"\x00".join(parts)


async def read_topics(bootstrap: str, topics: list[str]) -> dict[str, list[Msg]]:
    """Everything in ``topics`` now, without a consumer group (assign + seek to beginning)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: dict[str, list[Msg]] = {t: [] for t in topics}
    try:
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or await _parts(consumer, t))
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp, end in ends.items() if end > 0}
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=500)
            for tp, records in batches.items():
                for r in records:
                    headers = {k: bytes(v) for k, v in (r.headers or ())}
                    out[tp.topic].append(Msg(tp.topic, tp.partition, r.offset, r.key, r.value, headers))
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()
    return out


async def _parts(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # Metadata for a topic this client has not asked about yet.
    while True:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)


async def produce(
    bootstrap: str, records: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]]
) -> None:
    """(topic, key, value, headers) records, in order, acknowledged before returning."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(t, value=v, key=k, headers=h) for t, k, v, h in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
