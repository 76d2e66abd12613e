"""The broker the suite runs against is real: produce and consume keyed records through it."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = pytest.mark.kafka

N_MESSAGES = 100
N_KEYS = 10
N_PARTITIONS = 3


async def _produce(bootstrap: str, topic: str) -> None:
    # Idempotence keeps per-partition order even if a batch is retried.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, key=f"k{i % N_KEYS}".encode(), value=str(i).encode())
            for i in range(N_MESSAGES)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, group: str) -> list[tuple[int, int, str, int]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[int, int, str, int]] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < N_MESSAGES:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for r in records:
                        assert r.key is not None and r.value is not None
                        got.append((r.partition, r.offset, r.key.decode(), int(r.value)))
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


def test_produce_consume_keyed_roundtrip(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[..., str]
) -> None:
    topic = new_topic(N_PARTITIONS)
    group = unique_name("g")

    async def run() -> list[tuple[int, int, str, int]]:
        await _produce(kafka_bootstrap, topic)
        return await _consume(kafka_bootstrap, topic, group)

    got = asyncio.run(run())

    assert len(got) == N_MESSAGES
    assert sorted(v for *_, v in got) == list(range(N_MESSAGES))
    assert {k for _, _, k, _ in got} == {f"k{i}" for i in range(N_KEYS)}
    for _, _, key, value in got:
        assert key == f"k{value % N_KEYS}"

    by_partition: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for partition, offset, key, value in got:
        by_partition[partition].append((offset, key, value))
    # Ten keys over three partitions land on more than one partition (murmur2 is deterministic).
    assert set(by_partition) <= set(range(N_PARTITIONS))
    assert len(by_partition) > 1

    partition_of_key: dict[str, int] = {}
    for partition, records in by_partition.items():
        offsets = [o for o, _, _ in records]
        # Per-partition delivery is in offset order, offsets are dense from 0, and production order holds.
        assert offsets == list(range(len(records)))
        values = [v for _, _, v in records]
        assert values == sorted(values)
        for _, key, _ in records:
            assert partition_of_key.setdefault(key, partition) == partition, f"{key} spans partitions"
