"""The Kafka worker: the faust-streaming app, and the only module that imports faust.

Three agents run the transport-free stages of ``streams.stages`` (read that docstring for the
data flow and the crash semantics):

    route    on topics.events       -> by-identity, resolver, DLQ (invalid events)
    resolve  on topics.resolver     -> by-identity;   table "resolver-keys": key -> KeyState
    judge    on topics.by_identity  -> findings, trust, entities;   table "nhi-state": NHI -> NhiState

Each agent works in batches (``take_events``). Tables use the memory store with a changelog topic
each, partitioned like their source topic (``use_partitioner``: the producer's key hash, which is
also what routed the record), so a restart or a new owner recovers them from Kafka.

Acks: every record gets an extra reference when its batch arrives and loses it only once its
effects are in Kafka - for the judge, once the reorder buffer has released it and its NHI's state
is written. A cancelled, failed or still-held record therefore never reaches the committed offset,
whatever faust's ``take`` does with the batch afterwards. Effects are awaited, not fire-and-forget:
outputs first, then the state that produced them, then the acks.

Processing guarantee: at-least-once with idempotent effects (see ``streams.stages``), not faust's
``exactly_once``: that needs a transactional producer per partition and read-committed readers,
and would still not cover the DuckDB sink, which dedupes by its own keys anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from ingest.kafka_topics import ensure_topics, replication_from_env
from streams.judge import JudgeStage, Released
from streams.kafka_partition import KeyPartitioner
from streams.resolver import KeyState
from streams.settings import Settings
from streams.stages import Record, ResolveStage, RouteStage, Send, load_key_state
from streams.stages import dump_key_state as _dump_key_state
from streams.topics import Topics

log = logging.getLogger("nhi.worker")

BATCH_MAX = 2000  # records per take batch: the per-batch costs (awaits, state writes) amortise
BATCH_WITHIN_S = 0.05  # a partial batch waits at most this long: a bound on added latency
# NHI states are written at most this often, not per batch: a state is KBs (it grows with the
# NHI's credentials) and a busy NHI is touched by nearly every batch. Costs: acks (and so the
# committed offset) trail by up to this long, and a crash may re-emit this much output.
CHECKPOINT_S = 1.0
CHECKPOINT_RECORDS = 50_000  # ... or once this many released records wait for their ack


def default_app_id(topics: Topics) -> str:
    """Consumer group and changelog prefix of the worker: ``nhi.worker`` for the default topics."""
    return f"{topics.prefix}worker"


@dataclass(slots=True)
class WorkerStats:
    events: int = 0  # valid events read from topics.events
    rejects: int = 0  # invalid ones, sent to the DLQ
    resolver_ops: int = 0
    judged: int = 0  # (NHI, event) pairs released by the reorder buffers and stepped
    findings: int = 0  # finding changes sent
    trust: int = 0  # trust changes sent
    skipped: int = 0  # re-read after a restart and already applied
    late: int = 0
    held: int = 0  # waiting in the reorder buffers now
    first_in: float | None = None  # monotonic time of the first event batch
    last_out: float | None = None  # monotonic time of the last findings/trust send


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
        datadir: str | None = None,
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
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if datadir is None:
            # faust keeps a small per-app directory; memory-store tables need nothing durable in it.
            self._tmp = tempfile.TemporaryDirectory(prefix=f"nhi-worker-{app_id}-")
            datadir = self._tmp.name
        self.app = self._make_app(Path(datadir), compression)
        self.route = RouteStage(topics, settings.fingerprint_key)
        self.resolve = ResolveStage(topics)
        self.judge = JudgeStage(topics, settings, self._nhi_table.get)
        self._define_agents()

    # ------------------------------------------------------------------------------------- setup

    def _make_app(self, datadir: Path, compression: str | None) -> Any:
        n = self.topics.partitions
        livelock_s = max(300.0, self.settings.reorder_window_s * 2 + self.settings.idle_flush_s * 10)
        app = faust.App(
            self.app_id,
            broker=[f"kafka://{hp.strip()}" for hp in self.bootstrap.split(",") if hp.strip()],
            broker_credentials=_credentials(self.client_options),
            store="memory://",  # RocksDB is not a dependency; changelogs make the tables durable
            datadir=str(datadir),
            web_enabled=False,  # no port 6066: several workers (and tests) share a machine
            autodiscover=False,
            topic_partitions=n,
            topic_replication_factor=_faust_replication(replication_from_env()),
            key_serializer="raw",
            value_serializer="raw",
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            # Held records stay un-acked by design; don't wait for them to drain on rebalance/stop.
            stream_wait_empty=False,
            # A record may be held for the reorder window (event time, roughly wall time live).
            broker_commit_livelock_soft_timeout=livelock_s,
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
        return app

    def _define_agents(self) -> None:
        app = self.app
        size, within = self._batch

        async def route(stream: Any) -> None:
            async for batch in stream.take_events(size, within=within):
                await self._guarded("route", batch, self._route)

        async def resolve(stream: Any) -> None:
            async for batch in stream.take_events(size, within=within):
                await self._guarded("resolve", batch, self._resolve)

        async def judge(stream: Any) -> None:
            async for batch in stream.take_events(size, within=within):
                await self._guarded("judge", batch, self._judge)

        app.agent(self._events_t, name="route")(route)
        app.agent(self._resolver_t, name="resolve")(resolve)
        app.agent(self._by_identity_t, name="judge")(judge)
        app.on_partitions_revoked.connect(self._on_revoked)

    # ----------------------------------------------------------------------------------- running

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.topics, self.client_options)
        self.app.finalize()
        await self.app.start()
        self._idle_task = asyncio.create_task(self._idle_loop(), name="nhi-worker-idle-flush")

    async def stop(self) -> None:
        """Let in-flight batches finish, then stop: held records were never acked and are re-read."""
        async with contextlib.AsyncExitStack() as stack:
            for lock in self._locks.values():
                await stack.enter_async_context(lock)
            # Only now: with the judge lock held the idle flush is between two flushes, not inside one.
            if self._idle_task is not None:
                self._idle_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._idle_task
            if self.failed is None and self.judge.unsaved:
                await self._checkpoint()  # so a restart re-emits nothing
            await self.app.stop()
        self.stats.held = self.judge.held
        if self._tmp is not None:
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
        if not sends:
            return
        producer = self.app.producer
        futures = [await producer.send(s.topic, s.key, s.value, None, None, s.headers) for s in sends]
        await _delivered(futures)

    async def _write(self, table: Any, states: Mapping[bytes, bytes]) -> None:
        # Not Table.__setitem__: it queues the changelog record in faust's send buffer and drops the
        # future, and we must know the state is stored before acking. Partition None = the key hash,
        # as for the source topic (the tables are declared with use_partitioner).
        producer = self.app.producer
        topic = table.changelog_topic.get_topic_name()
        futures = []
        for key, value in states.items():
            futures.append(await producer.send(topic, key, value, None, None, None))
            table.data[key] = value
        await _delivered(futures)

    async def _route(self, batch: Sequence[Any]) -> None:
        st = self.stats
        if st.first_in is None:
            st.first_in = time.monotonic()
        await self._send(self.route.run([_record(ev) for ev in batch]))
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
        await self._write(table, {k.encode(): _dump_key_state(ks) for k, ks in changed.items()})
        self.stats.resolver_ops = self.resolve.ops
        self._upstream_last = time.monotonic()
        _ack(batch)

    async def _judge(self, batch: Sequence[Any]) -> None:
        judge = self.judge
        done = []
        for ev in batch:
            if not judge.push(_record(ev), ev):
                done.append(ev)  # skipped: nothing to wait for
        await self._effects(judge.release({ev.message.partition for ev in batch}))
        _ack(done)
        if time.monotonic() - self._checkpointed >= CHECKPOINT_S or judge.unsaved >= CHECKPOINT_RECORDS:
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Write the changed NHI states, then ack the records they account for. Judge lock held."""
        ck = self.judge.checkpoint()
        await self._send(ck.sends)
        await self._write(self._nhi_table, ck.states)
        _ack(ck.acks)
        self._checkpointed = time.monotonic()

    async def _effects(self, rel: Released) -> None:
        await self._send(rel.sends)
        st = self.stats
        st.judged += rel.events
        st.findings += rel.findings
        st.trust += rel.trust
        st.skipped, st.late, st.held = self.judge.skipped, self.judge.late, self.judge.held
        if rel.findings or rel.trust:
            st.last_out = time.monotonic()

    async def _idle_loop(self) -> None:
        """Release partitions that went quiet: what makes a finite input end like replay's."""
        idle_s = self.settings.idle_flush_s
        tick = min(max(idle_s / 4, 0.05), 0.5)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            # Quiet upstream too (in this process): nothing routed here is still on its way.
            # A partition quiet for 10x as long is flushed anyway, so a live stream can't starve it.
            after = idle_s if now - self._upstream_last >= idle_s else idle_s * 10
            async with self._locks["judge"]:
                parts = self.judge.idle(now, after)
                try:
                    if parts:
                        await self._effects(self.judge.release(parts, drain=True))
                    if self.judge.unsaved and (parts or now - self._checkpointed >= CHECKPOINT_S):
                        await self._checkpoint()
                except Exception as exc:
                    log.exception("idle flush failed; stopping")
                    self.failed = exc
                    self.fatal.set()
                    return

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


def _faust_replication(rf: int) -> int:
    # faust has no "broker default"; 1 is what the local single-node broker (and -1 there) means.
    return rf if rf > 0 else 1


def _credentials(options: Mapping[str, Any]) -> Any:
    """ingest.kafka_config.client_options (aiokafka keywords) -> faust broker credentials."""
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
