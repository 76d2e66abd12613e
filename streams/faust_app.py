"""The Kafka worker: the faust-streaming app, and the only module that imports faust.

Two agents run the transport-free stages (``streams.stages``, ``streams.judge``: read those for
the data flow, the watermarks and the crash semantics), each over ``take_events`` batches of
batch records (``transport.wire``):

    judge    on topics.events + topics.by_identity (co-partitioned by NHI)
                                    -> resolver, findings, trust, entities   table nhi-state: NHI -> state
    resolve  on topics.resolver     -> by-identity                           table resolver-keys: key -> KeyState

Tables use the memory store, each with a changelog topic partitioned like the source topic, so a
restart or a new owner of a partition recovers them from Kafka. Every record gets an extra
reference when its batch arrives and loses it only once its effects are in Kafka (awaited: outputs
first, then the state they came from), so a cancelled or failed batch is never committed whatever
faust's ``take`` does with it afterwards. A record with events still held for ordering is not
acked at all until they are released and stored: the committed offset waits for it.

At-least-once with idempotent effects, not faust's ``exactly_once``: that needs a transactional
producer per partition and read-committed readers, and would still not cover the DuckDB sink,
which dedupes by its own keys anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import faust
from faust.transport.drivers import aiokafka as _faust_kafka

from contract.settings import Settings
from streams.judge import JudgeStage
from streams.judge_parts import Released
from streams.resolver import KeyState
from streams.stages import Record, ResolveStage, Send, load_key_state, marks_key
from streams.stages import dump_key_state as _dump_key_state
from streams.worker_io import delivered, end_and_position, observe
from streams.worker_metrics import WorkerMetrics
from streams.worker_stats import WorkerStats, default_app_id
from transport.admin import ensure_topics, replication_from_env
from transport.partitioner import KeyPartitioner, spread
from transport.topics import Topics
from transport.wire import layout

log = logging.getLogger("nhi.worker")

BATCH_MAX = 500  # records per take batch (each a batch of events): the per-batch costs amortise
BATCH_WITHIN_S = 0.01  # a partial batch waits at most this long (per hop: latency); a full one goes at once
# NHI states are written at most this often, not per batch: a state is KBs (it grows with the
# NHI's credentials) and a busy NHI is touched by nearly every batch. Costs: acks (and so the
# committed offset) trail by up to this long, and a crash may re-emit this much output.
CHECKPOINT_S = 1.0
CHECKPOINT_RECORDS = 5_000  # ... or once this many records wait for their ack
FETCH_MAX_WAIT_MS = 20  # how long the broker may hold a fetch for data (see _ConsumerThread)
PENDING_MAX = 10_000  # undelivered-send futures kept between checkpoints before the done ones are dropped
LAG_EVERY_S = 2.0  # consumer lag is asked of the broker's last answer this often
TICK_S = 0.02  # the idle loop: marks that are due, releases that marks from elsewhere allowed


class Worker:
    """One faust app running the two stages; ``start``/``stop`` inside a running event loop."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        settings: Settings,
        *,
        app_id: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        compression: str | None = None,
        batch_max: int = BATCH_MAX,
        batch_within_s: float = BATCH_WITHIN_S,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.settings = settings
        # The default follows the topic prefix, so two pipelines on one cluster never share changelogs.
        self.app_id = app_id = app_id or default_app_id(topics)
        self.client_options = dict(client_options or {})
        self.stats = WorkerStats()
        self.metrics = WorkerMetrics()
        self.last_tick = 0.0  # monotonic time the idle loop last ran: the health check reads it
        self._lag_at = 0.0
        self.failed: BaseException | None = None
        self.fatal = asyncio.Event()  # set when a stage failed: the caller should stop the worker
        self._batch = (batch_max, batch_within_s)
        self._locks = {name: asyncio.Lock() for name in ("resolve", "judge")}
        self._checkpointed = 0.0  # monotonic time of the last judge checkpoint
        self._idle_task: asyncio.Task[None] | None = None
        self._pending: list[Any] = []  # the judge's sends not yet awaited (see _send)
        # faust keeps a small per-app directory; memory-store tables need nothing durable in it.
        self._tmp = tempfile.TemporaryDirectory(prefix=f"nhi-worker-{app_id}-")
        self.partitioner = KeyPartitioner()
        self.app = self._make_app(self._tmp.name, compression)
        self.resolve = ResolveStage(topics, self.partitioner, self._keys_table.get)
        self.judge = JudgeStage(topics, settings, self._nhi_table.get, self.partitioner)
        self._define_agents()

    def _make_app(self, datadir: str, compression: str | None) -> Any:
        n = self.topics.partitions
        app = _app(
            self.app_id,
            self.bootstrap,
            datadir,
            n,
            broker_credentials=_credentials(self.client_options),
            # faust has no "broker default" (-1): 1 is what it means on a single-node broker.
            topic_replication_factor=max(1, replication_from_env()),
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            # stop() lets batches finish itself; faust would wait for the records whose acks wait
            # for events held for ordering (or that a failed batch keeps forever).
            stream_wait_empty=False,
            producer_compression_type=compression,
            producer_acks=-1,
            producer_partitioner=self.partitioner,
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "partitions": n}
        # One channel of two topics: faust assigns their partitions together (co-partitioned).
        self._judge_t = app.topic(self.topics.events, self.topics.by_identity, **raw)
        self._resolver_t = app.topic(self.topics.resolver, **raw)
        self._keys_table = app.Table("resolver-keys", use_partitioner=True, **raw)
        self._nhi_table = app.Table("nhi-state", use_partitioner=True, **raw)
        return app

    def _define_agents(self) -> None:
        stages = [("judge", self._judge_t, self._judge), ("resolve", self._resolver_t, self._resolve)]
        for name, topic, handle in stages:
            self.app.agent(topic, name=name)(self._agent(name, handle))
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_rebalance_complete.connect(self._on_rebalanced)

    def _agent(self, name: str, handle: Callable[[Sequence[Any]], Awaitable[None]]) -> Any:
        size, within = self._batch

        async def agent(stream: Any) -> None:
            async for batch in stream.take_events(size, within=within):
                await self._guarded(name, batch, handle)

        return agent

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.topics, self.client_options)
        self.app.finalize()
        await self.app.start()
        self._idle_task = asyncio.create_task(self._idle_loop(), name="nhi-worker-idle")

    async def stop(self) -> None:
        """Let in-flight batches finish, checkpoint, then stop: a restart re-emits nothing."""
        async with contextlib.AsyncExitStack() as stack:
            for lock in self._locks.values():
                await stack.enter_async_context(lock)
            # Only now: with the locks held the idle loop is between two ticks, not inside one.
            if self._idle_task is not None:
                self._idle_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._idle_task
            if self.failed is None and self.judge.dirty:
                await self._checkpoint()
            if self.failed is None:
                await delivered(self._pending)
            await self.app.stop()
        self.stats.held = self.judge.held
        self._tmp.cleanup()

    async def _guarded(
        self, name: str, batch: Sequence[Any], handle: Callable[[Sequence[Any]], Awaitable[None]]
    ) -> None:
        for ev in batch:
            ev.message.incref()  # ours until the effects are in Kafka; see the module docstring
        try:
            async with self._locks[name]:
                with self.metrics.batch.labels(name).time():
                    await handle(batch)
        except Exception as exc:
            # The batch keeps our reference, so it is never committed: a restart re-reads it.
            log.exception("worker stage %s failed; stopping", name)
            self.failed = exc
            self.fatal.set()
            await asyncio.Event().wait()  # park until stop() cancels the agent

    async def _send(self, sends: Sequence[Send], *, wait: bool = True) -> None:
        """Send; ``wait=False`` (the judge's outputs) leaves the deliveries for the next checkpoint
        to await before it writes states and acks. A batch then costs no broker round trip: the
        judge is the latency path, and the order that matters (outputs before the states and
        acks they came from) still holds."""
        producer = self.app.producer
        futures = [await producer.send(s.topic, s.key, s.value, s.partition, None, s.headers) for s in sends]
        if wait:
            await delivered(futures)
            return
        pending = self._pending
        pending.extend(futures)
        if len(pending) > PENDING_MAX:  # between checkpoints: forget the delivered ones
            for fut in pending:
                if fut.done():
                    fut.result()  # a failed delivery fails the stage now
            self._pending = [f for f in pending if not f.done()]

    async def _write(self, table: Any, rows: Iterable[tuple[int | None, bytes, bytes | None]]) -> None:
        """Write (partition, key, value) rows to a table and wait until its changelog has them.

        Not Table.__setitem__: it queues the changelog record in faust's send buffer and drops the
        future, and we ack only what is stored. Partition None = the key hash, as for the source
        topic (use_partitioner tables); value None deletes the key.
        """
        producer = self.app.producer
        topic = table.changelog_topic.get_topic_name()
        data = table.data
        futures = []
        for partition, key, value in rows:
            futures.append(await producer.send(topic, key, value, partition, None, None))
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        await delivered(futures)

    async def _resolve(self, batch: Sequence[Any]) -> None:
        table = self._keys_table

        def load(key: str) -> KeyState | None:
            blob = table.get(key.encode())
            return load_key_state(blob) if blob is not None else None

        sends, changed, marked = self.resolve.run([_record(ev) for ev in batch], load, time.monotonic())
        await self._send(sends)
        n = self.topics.partitions
        rows: list[tuple[int | None, bytes, bytes | None]] = []
        for k, ks in changed.items():
            key = k.encode()
            rows.append((spread(key, n), key, _dump_key_state(ks)))  # where the Router sent it
        rows += [(p, marks_key(p), blob) for p, blob in marked.items()]
        await self._write(table, rows)
        self.stats.resolver_ops = self.resolve.ops
        _ack(batch)

    async def _judge(self, batch: Sequence[Any]) -> None:
        judge = self.judge
        st = self.stats
        now = time.monotonic()
        if st.first_in is None:
            st.first_in = now
        for ev in batch:
            judge.push(_record(ev), ev, now)
        if judge.rejects > st.rejects:
            new, last = judge.rejects - st.rejects, judge.last_reject
            log.warning("%d record(s) are not canonical events (latest %s); skipped", new, last)
        st.events, st.rejects = judge.events, judge.rejects
        # The resolver's share first: what is released below must not overtake it downstream.
        await self._send(judge.router.flush(judge.source_marks(), now), wait=False)
        await self._effects(judge.release(judge.ready()))
        if time.monotonic() - self._checkpointed >= CHECKPOINT_S or judge.unsaved >= CHECKPOINT_RECORDS:
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Send entity snapshots, write states, then ack. Judge lock held."""
        ck = self.judge.checkpoint()
        await self._send(ck.sends, wait=False)
        pending, self._pending = self._pending, []
        await delivered(pending)
        await self._write(self._nhi_table, [(p, k, v) for k, (p, v) in ck.states.items()])
        _ack(ck.acks)
        self._checkpointed = time.monotonic()

    async def _effects(self, rel: Released) -> None:
        await self._send(rel.sends, wait=False)
        st = self.stats
        st.judged += rel.events
        st.findings += rel.findings
        st.trust += rel.trust
        j = self.judge
        st.skipped, st.late, st.held = j.skipped, j.late, j.held
        if rel.findings or rel.trust:
            st.last_out = time.monotonic()

    async def _idle_loop(self) -> None:
        """Marks that are due, sources that went idle, and the releases marks from elsewhere allow."""
        idle_s = self.settings.idle_flush_s
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self._tick(idle_s)
            except Exception as exc:
                log.exception("the worker's idle loop failed; stopping")
                self.failed = exc
                self.fatal.set()
                return

    def health(self) -> tuple[bool, str]:
        """Healthy while no stage failed and the idle loop keeps ticking."""
        if self.failed is not None:
            return False, f"a stage failed: {type(self.failed).__name__}: {self.failed}"
        age = time.monotonic() - self.last_tick
        if age > 10:
            return False, f"the idle loop last ran {age:.0f}s ago"
        return True, f"{len(self.app.consumer.assignment())} partitions assigned"

    async def _observe(self, now: float) -> None:
        """Metrics that are read, not counted: lag per input partition (every 2 s), state sizes."""
        lag_due = now - self._lag_at >= LAG_EVERY_S
        if lag_due:
            self._lag_at = now
        inputs = (self.topics.events, self.topics.by_identity, self.topics.resolver)
        await observe(
            self.metrics,
            self.stats,
            self.judge,
            len(self._keys_table.data),
            self.app.consumer,
            inputs,
            lag_due,
        )

    async def _tick(self, idle_s: float) -> None:
        now = time.monotonic()
        self.last_tick = now
        await self._observe(now)
        judge = self.judge
        # Asked outside the lock: position() may wait on the consumer, the judge must not.
        quiet = judge.quiet_sources(now, idle_s)
        ended = await self._read_to_end(quiet) if quiet else set()
        async with self._locks["judge"]:
            if judge.idle_sources(now, idle_s, ended.__contains__):
                judge.router.policy.dirty = True
            await self._send(judge.router.flush(judge.source_marks(), now), wait=False)
            ready = judge.ready()
            if ready:
                await self._effects(judge.release(ready))
            if judge.dirty and time.monotonic() - self._checkpointed >= CHECKPOINT_S:
                await self._checkpoint()
        async with self._locks["resolve"]:
            await self._send(self.resolve.flush({}, now))

    async def _read_to_end(self, partitions: Iterable[int]) -> set[int]:
        """The events partitions among ``partitions`` this worker has read to their end."""
        consumer = self.app.consumer
        owned = {tp.partition: tp for tp in consumer.assignment() if tp.topic == self.topics.events}
        out = set()
        for p in partitions:
            tp = owned.get(p)
            if tp is None:
                continue
            end, pos = await end_and_position(consumer, tp)
            if end is not None and pos is not None and end <= pos:
                out.add(p)
        return out

    async def _on_rebalanced(self, app: Any, **_: Any) -> None:
        # Every events partition this worker reads is a watermark source, records or not: the
        # resolvers wait to hear from each (an empty one soon says it is idle).
        assigned = {tp.partition for tp in app.consumer.assignment() if tp.topic == self.topics.events}
        async with self._locks["judge"]:
            self.judge.assigned(assigned)

    async def _on_revoked(self, app: Any, revoked: Any = None, **_: Any) -> None:
        judged = {
            tp.partition for tp in revoked or () if tp.topic in (self.topics.events, self.topics.by_identity)
        }
        resolved = {tp.partition for tp in revoked or () if tp.topic == self.topics.resolver}
        if judged:
            async with self._locks["judge"]:
                self.judge.suspend(judged)  # forgotten on rebalance complete unless assigned again
        if resolved:
            async with self._locks["resolve"]:
                self.resolve.revoke(sorted(resolved))


def _record(ev: Any) -> Record:
    m = ev.message
    return Record(m.topic, m.partition, m.offset, m.key, m.value, layout(m.headers))


def _ack(events: Sequence[Any]) -> None:
    for ev in events:
        ev.ack()


class _ConsumerThread(_faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust hard-codes fetch_max_wait_ms=1500 and has no setting for it. aiokafka keeps one
        # fetch in flight per broker, for the partitions with nothing buffered; while the busy
        # ones wait to be taken, that fetch names only quiet partitions and the broker holds it
        # the whole wait, so the busy partitions' next records wait too: measured, 1-1.5 s
        # stalls every few seconds at 5k events/s. The value is read when the consumer starts.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(_faust_kafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(_faust_kafka.Transport):
    Consumer = _Consumer


class _App(faust.App):
    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def _app(app_id: str, bootstrap: str, datadir: str, partitions: int, **conf: Any) -> Any:
    return _App(
        app_id,
        broker=[f"kafka://{hp.strip()}" for hp in bootstrap.split(",") if hp.strip()],
        store="memory://",  # RocksDB is not a dependency; changelogs make the tables durable
        datadir=datadir,
        web_enabled=False,  # no port 6066: several workers (and tests) share a machine
        autodiscover=False,
        topic_partitions=partitions,
        key_serializer="raw",
        value_serializer="raw",
        **conf,
    )


def _credentials(options: Mapping[str, Any]) -> Any:
    """transport.config.client_options (aiokafka keywords) -> faust broker credentials."""
    protocol = options.get("security_protocol", "PLAINTEXT")
    ctx = options.get("ssl_context")
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        return faust.SASLCredentials(
            username=options.get("sasl_plain_username"),
            password=options.get("sasl_plain_password"),
            ssl_context=ctx if protocol == "SASL_SSL" else None,
            mechanism=options.get("sasl_mechanism", "PLAIN"),
        )
    if protocol == "SSL":
        return faust.SSLCredentials(ctx)
    return None


async def take_floor(bootstrap: str, topic: str, partitions: int, n: int, app_id: str) -> float:
    """Seconds for a faust agent that takes ``topic`` in the worker's batches and does nothing
    else to take ``n`` records (first batch excluded): the floor under the worker's cost per
    record, for benchmarks."""
    marks: list[tuple[float, int]] = []
    done = asyncio.Event()
    with tempfile.TemporaryDirectory(prefix=f"nhi-floor-{app_id}-") as tmp:
        app = _app(app_id, bootstrap, tmp, partitions)
        source = app.topic(topic, key_type=bytes, value_type=bytes, partitions=partitions)

        async def floor(stream: Any) -> None:
            taken = 0
            async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                taken += len(batch)
                marks.append((time.perf_counter(), len(batch)))
                if taken >= n:
                    done.set()

        app.agent(source, name="floor")(floor)
        app.finalize()
        await app.start()
        try:
            await done.wait()
        finally:
            await app.stop()
    return (marks[-1][0] - marks[0][0]) * n / max(1, n - marks[0][1])
