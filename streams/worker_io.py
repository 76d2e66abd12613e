"""The worker's waits on Kafka objects it is handed (sends, a consumer), without importing a client:
faust stays in ``streams.faust_app``, the Kafka clients in ``transport``."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection
from typing import Any

from streams.judge import JudgeStage
from streams.worker_metrics import WorkerMetrics
from streams.worker_stats import WorkerStats


async def end_and_position(consumer: Any, tp: Any) -> tuple[int | None, int | None]:
    """A partition's high watermark and read position; (None, None) if a rebalance took it
    meanwhile (the client asserts it is assigned)."""
    try:
        return consumer.highwater(tp), await consumer.position(tp)
    except (AssertionError, KeyError, ValueError):
        return None, None


async def delivered(futures: list[Any]) -> None:
    """Wait for every send; raise the first failure. Unlike gather, a cancelled wait leaves the
    futures alone (faust resolves them later and errors on a cancelled one)."""
    if futures:
        done, _ = await asyncio.wait(futures)
        for fut in done:
            fut.result()


async def observe(
    m: WorkerMetrics,
    stats: WorkerStats,
    judge: JudgeStage,
    resolver_keys: int,
    consumer: Any,
    inputs: Collection[str],
    with_lag: bool,
) -> None:
    """Set the gauges that are read, not counted: state sizes, release horizons and (``with_lag``)
    the consumer lag of every assigned partition of ``inputs``."""
    m.sync(stats)
    m.nhis.set(judge.nhi_count)
    m.keys.set(resolver_keys)
    m.horizon.clear()  # partitions revoked since the last look must not linger
    for p in judge.partitions():
        h = judge.horizon(p)
        m.horizon.labels(str(p)).set(-1 if h == -math.inf else h)
    if not with_lag:
        return
    for tp in consumer.assignment():
        if tp.topic in inputs:
            end, pos = await end_and_position(consumer, tp)
            if end is not None and pos is not None:
                m.lag.labels(tp.topic, str(tp.partition)).set(max(0, end - pos))
