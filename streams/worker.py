"""Running the Kafka worker (streams/faust_app.py) until told to stop: what ``nhi worker`` and
``nhi run`` call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from contract.settings import Settings
from streams.faust_app import Worker
from streams.worker_stats import WorkerStats
from transport.topics import Topics


async def run_worker(
    bootstrap: str,
    topics: Topics,
    settings: Settings,
    stop: asyncio.Event,
    *,
    app_id: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    compression: str | None = None,
    on_start: Callable[[Worker], None] | None = None,
) -> WorkerStats:
    """Run the worker until ``stop`` is set; raises what made a stage fail."""
    worker = Worker(
        bootstrap, topics, settings, app_id=app_id, client_options=client_options, compression=compression
    )
    await worker.start()
    if on_start is not None:
        on_start(worker)
    try:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(worker.fatal.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
    finally:
        await worker.stop()
    if worker.failed is not None:
        raise worker.failed
    return worker.stats
