"""Kafka -> DuckDB, exactly once (transport module): events, DLQ rejects, findings, trust and entities.

Exactly once into DuckDB, because the offsets live with the data:
  1. A plain aiokafka consumer group reads the five topics; Kafka auto-commit is off.
  2. Each ``getmany`` batch becomes one ``Batch`` whose ``offsets`` are the next offset of every
     partition in it; ``Store.write`` commits rows and offsets in ONE DuckDB transaction.
  3. On partition assignment the consumer seeks to the offsets stored in DuckDB (a partition the
     store has never seen starts at the beginning, whatever Kafka has committed for the group).
  4. Kafka offsets are committed only after the DuckDB commit, for monitoring (consumer lag); a
     crash between the two re-reads nothing, because step 3 ignores them.
  5. Re-writes are harmless anyway: every table is keyed and written with ON CONFLICT.

Records of a partition that was assigned but not yet sought are dropped (they would come from
Kafka's committed position); the seek discards them from the fetcher too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.errors import StoreError, TransportError
from contract.events import Event
from contract.records import CredentialRow, Finding
from contract.rejects import Reject
from ingest.collect import RAW_LIMIT
from ingest.secrets import scrub_text
from store.batch import Batch
from store.query_server import QueryServer
from store.store import Store
from store.writer import WriteStats
from transport.admin import ensure_topics
from transport.codec import decode_entity, decode_event, decode_finding, decode_skipped, decode_trust
from transport.dlq import received_at, reject_from_dlq
from transport.sink_metrics import SinkMetrics
from transport.topics import Topics
from transport.wire import EVENTS_V1, check_layout, decode_batch, layout

log = logging.getLogger(__name__)

# Records per DuckDB transaction: an events record is a batch of up to 1000 events, so a
# transaction holds what the consumer has fetched (aiokafka bounds that by bytes) - bigger
# transactions are what bring the sink near a raw Arrow insert.
MAX_RECORDS = 20_000
POLL_MS = 200


@dataclass(frozen=True, slots=True)
class SinkBatch:
    """What one DuckDB transaction stored; handed to ``on_batch`` after the commit."""

    records: int
    events: int  # events stored or already there (a batch record carries many)
    # (topic, partition) -> (first offset, next offset) of the records in this batch
    ranges: dict[tuple[str, int], tuple[int, int]]
    written: WriteStats
    started: float = 0.0  # perf_counter when its records were in hand (decode + store since)


@dataclass(slots=True)
class SinkStats:
    batches: int = 0
    records: int = 0
    events: int = 0
    rejects: int = 0  # DLQ records and records that did not decode
    # Changes stored, not records read: the worker re-sends an NHI's last trust change to refresh
    # its identity row, and a restarted worker re-sends what it had not acknowledged.
    findings: int = 0
    trust: int = 0
    entities: int = 0
    undecodable: int = 0
    new_events: int = 0  # rows actually inserted (the rest were already stored)
    query_address: tuple[str, int] | None = None
    by_topic: dict[str, int] = field(default_factory=dict)


class _Decoder:
    """Turns records of one batch into a Batch; a record that doesn't decode becomes a reject row."""

    def __init__(self, topics: Topics, fingerprint_key: str) -> None:
        self.topics = topics
        self.key = fingerprint_key
        self.batch = Batch()
        self.counts: dict[str, int] = {}

    def add(self, topic: str, record: Any) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1
        t = self.topics
        value: bytes = record.value or b""
        try:
            if topic == t.events:
                kind = layout(record.headers)
                if kind is None:
                    event: Event = decode_event(value)  # a native producer's event: full validation
                    self.batch.events.append(event)
                else:
                    # Our ingest's batch, validated at the edge: msgspec rebuilds the events.
                    check_layout(kind, EVENTS_V1)
                    events = decode_batch(value)
                    self.batch.events.extend(events)
            elif topic == t.dlq:
                self.batch.rejects.append(self._dlq(topic, record))
            elif topic == t.findings:
                finding: Finding = decode_finding(value)
                self.batch.findings.append(finding)
            elif topic == t.trust:
                change, identity = decode_trust(value)
                self.batch.trust.append(change)
                if identity is not None:
                    self.batch.snapshots.identities.append(identity)
            elif topic == t.stats:
                key, records = decode_skipped(value)
                self.batch.skipped[key] = records
            elif topic == t.entities:
                row = decode_entity(value)
                if isinstance(row, CredentialRow):
                    self.batch.snapshots.credentials.append(row)
                else:
                    self.batch.snapshots.tasks.append(row)
        except Exception as exc:  # any decode failure of one record: keep it as a reject, don't stop
            self.batch.rejects.append(self._undecodable(topic, record, exc))

    def _location(self, topic: str, record: Any) -> str:
        return f"{topic}/{record.partition}@{record.offset}"

    def _dlq(self, topic: str, record: Any) -> Reject:
        return reject_from_dlq(record, self._location(topic, record))

    def _undecodable(self, topic: str, record: Any, exc: Exception) -> Reject:
        text = scrub_text((record.value or b"").decode("utf-8", "replace"), self.key)
        if len(text) > RAW_LIMIT:
            text = text[:RAW_LIMIT] + "...[truncated]"
        reason = scrub_text(f"undecodable record on {topic} ({type(exc).__name__}): {exc}", self.key)
        return Reject(
            raw=text,
            reason=reason[:2000],
            source=f"kafka:{topic}",
            location=self._location(topic, record),
            received_at=received_at(record),
        )


def _account(stats: SinkStats, decoder: _Decoder, written: WriteStats) -> None:
    b = decoder.batch
    stats.batches += 1
    stats.events += len(b.events)
    stats.rejects += len(b.rejects)
    stats.findings += written.finding_changes
    stats.trust += written.trust_changes
    stats.entities += len(b.snapshots.credentials) + len(b.snapshots.tasks)
    stats.undecodable += sum(1 for r in b.rejects if r.source.startswith("kafka:"))
    stats.new_events += written.events
    for topic, n in decoder.counts.items():
        stats.records += n
        stats.by_topic[topic] = stats.by_topic.get(topic, 0) + n


class _Positions:
    """The rebalance listener: seeks newly assigned partitions to the offsets stored in DuckDB.

    aiokafka logs and swallows exceptions from a listener; one here (the store can't be read)
    would leave partitions at Kafka's committed offsets, so it is kept and re-raised by the loop.
    """

    def __init__(self, consumer: Any, store: Store, group: str, lock: asyncio.Lock) -> None:
        self.consumer = consumer
        self.store = store
        self.group = group
        self.lock = lock  # held while a batch is fetched and stored: one user of the connection
        self.ready: set[Any] = set()
        self.error: BaseException | None = None

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Waiting for the lock lets the batch in progress be stored (with its offsets) first.
        async with self.lock:
            self.ready.difference_update(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            async with self.lock:
                stored = await asyncio.to_thread(self.store.load_offsets, self.group)
            fresh = []
            for tp in assigned:
                offset = stored.get((tp.topic, tp.partition))
                if offset is None:
                    fresh.append(tp)
                else:
                    self.consumer.seek(tp, offset)
            if fresh:
                await self.consumer.seek_to_beginning(*fresh)
            self.ready.update(assigned)
        except BaseException as exc:
            self.error = exc
            raise


def _listener(positions: _Positions) -> Any:
    from aiokafka import ConsumerRebalanceListener

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            await positions.on_partitions_revoked(revoked)

        async def on_partitions_assigned(self, assigned: Any) -> None:
            await positions.on_partitions_assigned(assigned)

    return Listener()


async def run_sink(
    bootstrap: str,
    db: str,
    topics: Topics,
    group: str,
    stop: asyncio.Event,
    client_options: Mapping[str, Any] | None = None,
    on_batch: Callable[[SinkBatch], None] | None = None,
    *,
    query_port: int | None = 0,
    max_records: int = MAX_RECORDS,
    fingerprint_key: str = "",
    on_ready: Callable[[SinkStats], None] | None = None,
    metrics: SinkMetrics | None = None,
) -> SinkStats:
    """Consume into the store at ``db`` until ``stop`` is set; the batch in progress is finished first.

    ``on_batch`` runs after each DuckDB commit and before the Kafka commit. ``query_port``: where
    the read-only query server listens (0 = any free port, None = no server). ``on_ready`` runs
    once the store is open and the query server announced.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    options = dict(client_options or {})
    await ensure_topics(bootstrap, topics, options)
    store = Store.open(db)
    stats = SinkStats()
    server: QueryServer | None = None
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # only when a stored offset is gone (retention): keep what is left
        isolation_level="read_committed",  # a transactional worker's aborted output is never stored
        max_poll_records=max_records,
        **options,
    )
    try:
        if query_port is not None:
            server = QueryServer(store.con, store.path, query_port)
            server.start()
            stats.query_address = server.address
        positions = _Positions(consumer, store, group, asyncio.Lock())
        consumer.subscribe(
            [topics.events, topics.dlq, topics.findings, topics.trust, topics.entities, topics.stats],
            listener=_listener(positions),
        )
        try:
            await consumer.start()
        except (KafkaError, OSError) as exc:
            raise TransportError(f"Kafka at {bootstrap}: sink consumer can't start: {exc!r}") from exc
        if on_ready is not None:
            on_ready(stats)
        while not stop.is_set():
            try:
                await _one_batch(
                    consumer,
                    positions,
                    store,
                    topics,
                    group,
                    stats,
                    on_batch,
                    max_records,
                    fingerprint_key,
                    metrics,
                )
            except BaseException as exc:
                if metrics is not None:
                    metrics.failed = exc
                raise
    finally:
        with contextlib.suppress(KafkaError, OSError):
            await consumer.stop()
        if server is not None:
            server.stop()
        store.close()
    return stats


async def _one_batch(
    consumer: Any,
    positions: _Positions,
    store: Store,
    topics: Topics,
    group: str,
    stats: SinkStats,
    on_batch: Callable[[SinkBatch], None] | None,
    max_records: int,
    fingerprint_key: str,
    metrics: SinkMetrics | None = None,
) -> None:
    from aiokafka.errors import KafkaError

    async with positions.lock:
        if positions.error is not None:
            raise StoreError(f"can't seek to the stored offsets: {positions.error}") from positions.error
        try:
            fetched = await consumer.getmany(timeout_ms=POLL_MS, max_records=max_records)
        except KafkaError as exc:
            raise TransportError(f"Kafka: the sink can't fetch: {exc!r}") from exc
        if metrics is not None:
            metrics.polled_at = time.monotonic()
            await metrics.observe_lag(consumer)
        started = time.perf_counter()
        decoder = _Decoder(topics, fingerprint_key)
        ranges: dict[tuple[str, int], tuple[int, int]] = {}
        for tp, records in fetched.items():
            if not records or tp not in positions.ready:
                continue  # assigned but not yet sought: these came from Kafka's committed offset
            for record in records:
                decoder.add(tp.topic, record)
            ranges[(tp.topic, tp.partition)] = (records[0].offset, records[-1].offset + 1)
        if not ranges:
            return
        decoder.batch.offsets = {(group, t, p): end for (t, p), (_, end) in ranges.items()}
        written = await asyncio.to_thread(store.write, decoder.batch)
    _account(stats, decoder, written)
    if metrics is not None:
        metrics.batch.observe(time.perf_counter() - started)
        for topic, n in decoder.counts.items():
            metrics.records.labels(topic).inc(n)
        metrics.events.inc(written.events)
        metrics.rejects.inc(len(decoder.batch.rejects))
        metrics.findings.inc(written.finding_changes)
        metrics.trust.inc(written.trust_changes)
    if on_batch is not None:
        on_batch(SinkBatch(sum(decoder.counts.values()), len(decoder.batch.events), ranges, written, started))
    await _commit_kafka(consumer, ranges)


async def _commit_kafka(consumer: Any, ranges: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Best effort: DuckDB holds the truth; Kafka's copy only feeds lag monitoring."""
    from aiokafka import TopicPartition
    from aiokafka.errors import KafkaError

    offsets = {TopicPartition(t, p): end for (t, p), (_, end) in ranges.items()}
    try:
        await consumer.commit(offsets)
    except KafkaError as exc:  # e.g. a rebalance moved the partition meanwhile
        log.warning("Kafka offset commit skipped (%r); the stored offsets in DuckDB are unaffected", exc)
