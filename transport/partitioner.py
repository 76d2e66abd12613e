"""The worker's Kafka key partitioners (transport module: the one place it imports aiokafka).

NHIs are partitioned as every Kafka client partitions keys (murmur2): a producer written against
the native contract keys its events by NHI, and those must land where the worker keeps that NHI.
Keys only the worker itself partitions (resolver keys, entity snapshots: tens of thousands, most
seen once) use ``spread``, a CRC32 in C: murmur2 is pure Python here, ~30 us a key.
"""

from __future__ import annotations

import zlib

from aiokafka.partitioner import DefaultPartitioner, murmur2


def spread(key: bytes, partitions: int) -> int:
    """The partition of a key that only this pipeline reads back (same key, same partition)."""
    return zlib.crc32(key) % partitions


class KeyPartitioner:
    """aiokafka's murmur2 key partitioner, memoised: same partitions as every other Kafka client,
    but murmur2 is pure Python (~30 us a key) and our keys (NHIs, tasks, credentials) repeat."""

    def __init__(self, size: int = 1 << 17) -> None:
        self._size = size
        self._hashes: dict[bytes, int] = {}
        self._random = DefaultPartitioner()

    def of(self, key: bytes, partitions: int) -> int:
        """The partition of ``key`` among ``partitions`` (what a keyed send would choose)."""
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h % partitions

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._random(key, all_partitions, available))
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[h % len(all_partitions)]
