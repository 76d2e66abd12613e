"""The Kafka worker: the faust-streaming app, and the only module that imports faust.

Three agents run the transport-free stages (``streams.stages``, ``streams.judge``: read those for
the data flow and the crash semantics), each over ``take_events`` batches:

    route    on topics.events       -> by-identity, resolver
    resolve  on topics.resolver     -> by-identity           table resolver-keys: key -> KeyState
    judge    on topics.by_identity  -> findings, trust, entities
                                       tables nhi-state: NHI -> NhiState, held: partition:offset -> record

Tables use the memory store, each with a changelog topic partitioned like the source topic, so a
restart or a new owner of a partition recovers them from Kafka. Every record gets an extra
reference when its batch arrives and loses it only once its effects are in Kafka (awaited: outputs
first, then the state they came from), so a cancelled or failed batch is never committed whatever
faust's ``take`` does with it afterwards.

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

from contract.settings import Settings
from streams.judge import JudgeStage, Released
from streams.resolver import KeyState
from streams.stages import Record, ResolveStage, RouteStage, Send, load_key_state
from streams.stages import dump_key_state as _dump_key_state
from streams.worker_stats import WorkerStats, default_app_id
from transport.admin import ensure_topics, replication_from_env
from transport.partitioner import KeyPartitioner
from transport.topics import Topics

log = logging.getLogger("nhi.worker")

BATCH_MAX = 2000  # records per take batch: the per-batch costs (awaits, state writes) amortise
BATCH_WITHIN_S = 0.01  # a partial batch waits at most this long (per hop: latency); a full one goes at once
# NHI states are written at most this often, not per batch: a state is KBs (it grows with the
# NHI's credentials) and a busy NHI is touched by nearly every batch. Costs: acks (and so the
# committed offset) trail by up to this long, and a crash may re-emit this much output.
CHECKPOINT_S = 1.0
CHECKPOINT_RECORDS = 50_000  # ... or once this many released records wait for their ack


class Worker:
    """One faust app running the three stages; ``start``/``stop`` inside a running event loop."""

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
        self.failed: BaseException | None = None
        self.fatal = asyncio.Event()  # set when a stage failed: the caller should stop the worker
        self._batch = (batch_max, batch_within_s)
        self._locks = {name: asyncio.Lock() for name in ("route", "resolve", "judge")}
        self._upstream_last = 0.0  # monotonic time route/resolve last handled a batch
        self._checkpointed = 0.0  # monotonic time of the last judge checkpoint
        self._idle_task: asyncio.Task[None] | None = None
        # faust keeps a small per-app directory; memory-store tables need nothing durable in it.
        self._tmp = tempfile.TemporaryDirectory(prefix=f"nhi-worker-{app_id}-")
        self.app = self._make_app(self._tmp.name, compression)
        self.route = RouteStage(topics)
        self.resolve = ResolveStage(topics)
        self.judge = JudgeStage(topics, settings, self._nhi_table.get)
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
            # for the next checkpoint (or that a failed batch keeps forever).
            stream_wait_empty=False,
            producer_compression_type=compression,
            producer_acks=-1,
            producer_partitioner=KeyPartitioner(),
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "partitions": n}
        self._events_t = app.topic(self.topics.events, **raw)
        self._resolver_t = app.topic(self.topics.resolver, **raw)
        self._by_identity_t = app.topic(self.topics.by_identity, **raw)
        self._keys_table = app.Table("resolver-keys", use_partitioner=True, **raw)
        self._nhi_table = app.Table("nhi-state", use_partitioner=True, **raw)
        # Records held for ordering at a checkpoint, keyed partition:offset, in that partition.
        self._held_table = app.Table("held", **raw)
        return app

    def _define_agents(self) -> None:
        stages = [
            ("route", self._events_t, self._route),
            ("resolve", self._resolver_t, self._resolve),
            ("judge", self._by_identity_t, self._judge),
        ]
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
        self._idle_task = asyncio.create_task(self._idle_loop(), name="nhi-worker-idle-flush")

    async def stop(self) -> None:
        """Let in-flight batches finish, checkpoint, then stop: a restart re-emits nothing."""
        async with contextlib.AsyncExitStack() as stack:
            for lock in self._locks.values():
                await stack.enter_async_context(lock)
            # Only now: with the judge lock held the idle flush is between two flushes, not inside one.
            if self._idle_task is not None:
                self._idle_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._idle_task
            if self.failed is None and self.judge.dirty:
                await self._checkpoint()
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
                await handle(batch)
        except Exception as exc:
            # The batch keeps our reference, so it is never committed: a restart re-reads it.
            log.exception("worker stage %s failed; stopping", name)
            self.failed = exc
            self.fatal.set()
            await asyncio.Event().wait()  # park until stop() cancels the agent

    async def _send(self, sends: Sequence[Send]) -> None:
        producer = self.app.producer
        await _delivered([await producer.send(s.topic, s.key, s.value, None, None, s.headers) for s in sends])

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
        await _delivered(futures)

    async def _route(self, batch: Sequence[Any]) -> None:
        st = self.stats
        if st.first_in is None:
            st.first_in = time.monotonic()
        await self._send(self.route.run([_record(ev) for ev in batch]))
        if self.route.rejects > st.rejects:
            new, last = self.route.rejects - st.rejects, self.route.last_reject
            log.warning("%d record(s) are not canonical events (latest %s); skipped", new, last)
        st.events, st.rejects = self.route.events, self.route.rejects
        self._upstream_last = time.monotonic()
        _ack(batch)

    async def _resolve(self, batch: Sequence[Any]) -> None:
        table = self._keys_table

        def load(key: str) -> KeyState | None:
            blob = table.get(key.encode())
            return load_key_state(blob) if blob is not None else None

        sends, changed = self.resolve.run([_record(ev) for ev in batch], load)
        await self._send(sends)
        await self._write(table, [(None, k.encode(), _dump_key_state(ks)) for k, ks in changed.items()])
        self.stats.resolver_ops = self.resolve.ops
        self._upstream_last = time.monotonic()
        _ack(batch)

    async def _judge(self, batch: Sequence[Any]) -> None:
        judge = self.judge
        parts = {ev.message.partition for ev in batch}
        self._load_held(p for p in parts if not judge.loaded(p))
        done = []
        for ev in batch:
            if not judge.push(_record(ev), ev):
                done.append(ev)  # skipped: nothing to wait for
        await self._effects(judge.release(parts))
        _ack(done)
        if time.monotonic() - self._checkpointed >= CHECKPOINT_S or judge.unsaved >= CHECKPOINT_RECORDS:
            await self._checkpoint()

    def _load_held(self, partitions: Iterable[int]) -> None:
        """A partition this worker just got: its held records go back in the buffer first."""
        data = self._held_table.data
        for p in partitions:
            prefix = b"%d:" % p
            n = self.judge.load_held(p, [(k, v) for k, v in data.items() if k.startswith(prefix)])
            if n:
                log.info("by-identity partition %d: %d held record(s) restored", p, n)

    async def _on_rebalanced(self, app: Any, **_: Any) -> None:
        # Sent once the tables are recovered, before the streams resume: a partition with nothing
        # new to read must still get its held records back, to release them.
        assigned = {tp.partition for tp in app.consumer.assignment() if tp.topic == self.topics.by_identity}
        async with self._locks["judge"]:
            self._load_held(p for p in assigned if not self.judge.loaded(p))

    async def _checkpoint(self) -> None:
        """Send entity snapshots, write states and held records, then ack. Judge lock held."""
        ck = self.judge.checkpoint()
        await self._send(ck.sends)
        await self._write(self._nhi_table, [(None, k, v) for k, v in ck.states.items()])
        await self._write(self._held_table, ck.held)
        _ack(ck.acks)
        self._checkpointed = time.monotonic()

    async def _effects(self, rel: Released) -> None:
        await self._send(rel.sends)
        st = self.stats
        st.judged += rel.events
        st.findings += rel.findings
        st.trust += rel.trust
        j = self.judge
        st.skipped, st.restored, st.late, st.held = j.skipped, j.restored, j.late, j.held
        if rel.findings or rel.trust:
            st.last_out = time.monotonic()

    async def _idle_loop(self) -> None:
        """Release partitions that went quiet: what makes a finite input end like replay's."""
        idle_s = self.settings.idle_flush_s
        # Live, event time runs with wall time, so nothing can still be on its way to a partition
        # that has been quiet for the reorder window; sooner only once the upstream is drained.
        patience = max(idle_s, self.settings.reorder_window_s)
        tick = min(max(idle_s / 4, 0.05), 0.5)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            # Asked outside the lock: position() may wait on the consumer, the judge must not.
            drained = bool(self.judge.idle(now, idle_s)) and await self._upstream_drained(now)
            async with self._locks["judge"]:
                parts = self.judge.idle(now, idle_s if drained else patience)
                try:
                    if parts:
                        await self._effects(self.judge.release(parts, drain=True))
                    if self.judge.dirty and (parts or now - self._checkpointed >= CHECKPOINT_S):
                        await self._checkpoint()
                except Exception as exc:
                    log.exception("idle flush failed; stopping")
                    self.failed = exc
                    self.fatal.set()
                    return

    async def _upstream_drained(self, now: float) -> bool:
        """Route and resolve idle for NHI_IDLE_FLUSH_S with nothing left to fetch: in this worker,
        nothing is on its way to the judge. (A backfill routes a day of event time per second,
        so releasing while a routed record is still in flight would make it late.)"""
        if now - self._upstream_last < self.settings.idle_flush_s:
            return False
        consumer = self.app.consumer
        for tp in consumer.assignment():
            if tp.topic in (self.topics.events, self.topics.resolver):
                end = consumer.highwater(tp)
                if end is None or end > (await consumer.position(tp) or 0):
                    return False
        return True

    async def _on_revoked(self, app: Any, revoked: Any = None, **_: Any) -> None:
        parts = {tp.partition for tp in revoked or () if tp.topic == self.topics.by_identity}
        if parts:
            async with self._locks["judge"]:
                self.judge.revoke(parts)


async def _delivered(futures: list[Any]) -> None:
    """Wait for every send; raise the first failure. Unlike gather, a cancelled wait leaves the
    futures alone (faust resolves them later and errors on a cancelled one)."""
    if futures:
        done, _ = await asyncio.wait(futures)
        for fut in done:
            fut.result()


def _record(ev: Any) -> Record:
    m = ev.message
    return Record(m.topic, m.partition, m.offset, m.key, m.value)


def _ack(events: Sequence[Any]) -> None:
    for ev in events:
        ev.ack()


def _app(app_id: str, bootstrap: str, datadir: str, partitions: int, **conf: Any) -> Any:
    return faust.App(
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
