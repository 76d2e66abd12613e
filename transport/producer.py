"""Producing collector output to Kafka (transport module): events to the events topic, rejects to the DLQ.

Parsing happens at the edge, in a reader thread running the same ``Collector`` as ``nhi replay``,
so the broker only ever carries canonical events (secrets already fingerprinted) and rejects
(raw record with secrets fingerprinted, plus why and where in headers). The event loop only
sends: ``send`` hands a record to aiokafka's accumulator and returns a future; futures are
awaited in windows so batching, lz4/gzip compression and linger work, and a broker error
still surfaces within one window.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contract.errors import TransportError
from contract.events import Event
from contract.rejects import Reject
from ingest.collect import Collector
from ingest.sources import RawRecord
from transport.codec import SkipKey, encode_event, encode_skipped, event_key
from transport.dlq import dlq_headers
from transport.topics import Topics

SEND_WINDOW = 2000  # futures awaited together: bounds memory and how late a broker error is seen
CHUNK = 500  # items the reader thread hands over at once
QUEUE_CHUNKS = 8  # reader backpressure: at most this many chunks wait for the producer


@dataclass(slots=True)
class IngestStats:
    records: int = 0
    events: int = 0
    rejects: int = 0
    skipped: int = 0  # records about no NHI (counted, on the ingest-stats topic)
    sent: int = 0  # acknowledged by the broker (events + rejects)
    seconds: float = 0.0


class EventProducer:
    """An idempotent aiokafka producer for the events topic and the DLQ."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        client_options: Mapping[str, Any] | None = None,
        *,
        compression: str | None = "gzip",
        linger_ms: int = 20,
        fingerprint_key: str = "",
    ) -> None:
        from aiokafka import AIOKafkaProducer

        self.topics = topics
        self.bootstrap = bootstrap
        self.fingerprint_key = fingerprint_key
        # Idempotence (acks=all implied) keeps per-partition order and no duplicates across
        # internal retries, so an NHI's events reach the worker in the order they were read.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            compression_type=compression,
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
            **dict(client_options or {}),
        )
        self._pending: list[asyncio.Future[Any]] = []
        self.sent = 0

    async def start(self) -> None:
        from aiokafka.errors import KafkaError

        try:
            await self._producer.start()
        except (KafkaError, OSError) as exc:
            await self._producer.stop()
            raise TransportError(f"Kafka at {self.bootstrap}: producer can't start: {exc!r}") from exc

    async def stop(self) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def send_event(self, event: Event) -> None:
        await self._send(self.topics.events, event_key(event), encode_event(event), None)

    async def send_skipped(self, counts: dict[SkipKey, int]) -> None:
        """This run's tallies of records about no NHI, per input, collector and reason: a compacted
        topic keeps the latest count per key, and the sink stores it (``skipped``)."""
        for key, records in counts.items():
            await self._send(self.topics.stats, *encode_skipped(key, records), None)

    async def send_reject(self, reject: Reject) -> None:
        headers = dlq_headers(reject, self.fingerprint_key)
        await self._send(self.topics.dlq, None, reject.raw.encode(), headers)

    async def _send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None
    ) -> None:
        from aiokafka.errors import KafkaError

        try:
            fut = await self._producer.send(topic, value=value, key=key, headers=headers)
        except KafkaError as exc:
            raise TransportError(f"Kafka: can't send to {topic}: {exc!r}") from exc
        self._pending.append(fut)
        if len(self._pending) >= SEND_WINDOW:
            await self.flush()

    async def flush(self) -> None:
        """Wait until every record sent so far is acknowledged; TransportError on the first failure."""
        from aiokafka.errors import KafkaError

        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        self.sent += len(results) - len(failed)
        if failed:
            exc = failed[0]
            if isinstance(exc, KafkaError | OSError):
                raise TransportError(f"Kafka: {len(failed)} record(s) not acknowledged: {exc!r}") from exc
            raise exc


_END = object()  # the reader thread is done


class _Reader:
    """Runs the blocking parse in a thread, handing chunks of events and rejects to the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
        stop: threading.Event,
        skipped: dict[SkipKey, int],
    ) -> None:
        self.loop = loop
        self.queue = queue
        self.stop = stop
        self._chunk: list[Event | Reject] = []
        self._skipped = skipped  # the collector's tallies, written by this thread only
        self._skips_sent = 0

    def _put(self, value: Any) -> None:
        # Blocks this thread while the queue is full: the producer's pace limits the reading.
        asyncio.run_coroutine_threadsafe(self.queue.put(value), self.loop).result()

    def hand_over(self) -> None:
        """Also called by the source when it is idle, so a quiet followed file doesn't hold records back.
        Skip tallies travel with the chunk (copied here, in the thread that counts them)."""
        skips = sum(self._skipped.values())
        if self._chunk or skips != self._skips_sent:
            out, self._chunk = self._chunk, []
            self._skips_sent = skips
            self._put((out, dict(self._skipped)))

    def run(self, items: Iterable[Event | Reject]) -> None:
        try:
            for item in items:
                self._chunk.append(item)
                if len(self._chunk) >= CHUNK:
                    self.hand_over()
                    if self.stop.is_set():
                        break
            self.hand_over()
            self._put(_END)
        except BaseException as exc:  # raised again in the event loop, where the command sees it
            self._put(exc)


async def run_ingest(
    producer: EventProducer,
    collector: Collector,
    records: Callable[[Callable[[], None]], Iterable[RawRecord]],
    stop: threading.Event,
    on_progress: Callable[[IngestStats], None] | None = None,
) -> IngestStats:
    """Parse ``records(idle)`` with ``collector`` in a thread and produce what it makes.

    ``records`` gets the idle hook to pass to a ``Tailer``. Returns when the input ends or
    ``stop`` is set (the records source should watch ``stop`` too, e.g. as the Tailer's stop).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    stats = IngestStats()
    started = time.perf_counter()
    reader = _Reader(loop, queue, stop, collector.skipped)
    sent_skips: dict[SkipKey, int] = {}
    thread = threading.Thread(
        target=reader.run,
        args=(collector.run(records(reader.hand_over)),),
        name="nhi-ingest-reader",
        daemon=True,
    )
    thread.start()
    try:
        while True:
            got = await queue.get()
            if got is _END:
                break
            if isinstance(got, BaseException):
                raise got
            items, skipped = got
            for item in items:
                if isinstance(item, Event):
                    await producer.send_event(item)
                else:
                    await producer.send_reject(item)
            changed = {k: n for k, n in skipped.items() if sent_skips.get(k) != n}
            if changed:
                await producer.send_skipped(changed)
                sent_skips.update(changed)
            if queue.empty():  # the reader is behind (or idle): get what was sent acknowledged now
                await producer.flush()
            _count(stats, collector, producer, started, sent_skips)
            if on_progress is not None:
                on_progress(stats)
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue so the thread can end
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)
    await producer.flush()
    _count(stats, collector, producer, started, sent_skips)
    return stats


def _count(
    stats: IngestStats,
    collector: Collector,
    producer: EventProducer,
    started: float,
    skipped: dict[SkipKey, int],
) -> None:
    stats.records = collector.records
    stats.events = collector.events
    stats.rejects = collector.rejects
    stats.skipped = sum(skipped.values())
    stats.sent = producer.sent
    stats.seconds = time.perf_counter() - started
