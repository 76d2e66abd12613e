"""The Kafka key partitioner the worker and the producer share (murmur2, as every Kafka client)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2


class KeyPartitioner:
    """aiokafka's murmur2 key partitioner, memoised: same partitions as every other Kafka client,
    but murmur2 is pure Python (~30 us a key) and our keys (NHIs, tasks, credentials) repeat."""

    def __init__(self, size: int = 1 << 17) -> None:
        self._size = size
        self._hashes: dict[bytes, int] = {}
        self._random = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._random(key, all_partitions, available))
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[h % len(all_partitions)]
