"""The Kafka worker's stages as plain per-batch code over the same functions as replay.

    events      --judge-->    an event that names its NHI: straight into that NHI's reorder
                              buffer (events and by-identity are co-partitioned by NHI)
                --route-->    resolver (by key): index ops, and key-routed events
    resolver    --resolve-->  by-identity: parked events for a newly indexed NHI, and key-routed
                              events for every NHI indexed under the key
    by-identity --judge-->    findings, trust, entities: reorder per partition, ``step`` per NHI

Every record is a batch (``transport.wire``) and carries watermarks (``streams.watermarks``).
No Kafka client here: ``streams.faust_app`` feeds consumed records in, sends what comes out,
writes the returned state to its tables and acks. The stages call the engine's own per-key
functions (``index_keys``, ``on_index``, ``on_routed``, ``ReorderBuffer``, ``step``), which is
why the worker's findings are the replay's findings.

Crash semantics (at-least-once everywhere, effects idempotent): route and resolve outputs are
awaited before the batch is acked and before resolver state is written, so a crash re-sends
(never drops); a re-sent index op is a no-op, a re-sent routed event reaches its NHIs again and
their ``NhiState`` drops it by event id. The judge: see ``streams.judge``.
"""

from __future__ import annotations

import copyreg
import io
import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

import msgspec
from pydantic_core import TzInfo

from contract.events import Event
from streams.resolver import KeyState, index_keys, on_index, on_routed, routing_key
from streams.watermarks import Channels
from transport.partitioner import KeyPartitioner, spread
from transport.topics import Topics
from transport.wire import (
    BY_IDENTITY_V1,
    RESOLVER_V1,
    JudgeBatch,
    Mark,
    ResolverBatch,
    check_layout,
    decode_resolver,
    encode_judge,
    encode_resolver,
    headers,
)

# 3: by-identity batches; an NHI's progress per input topic (streams.judge).
STATE_FORMAT = 3
# (key, NHI) index ops sent recently; repeats are skipped (a re-sent op would be a no-op anyway)
INDEX_MEMORY = 100_000
# A changed watermark goes out with the next data, or on its own at most this often per stage:
# the price of a mark-only record against how long a quiet path delays releases downstream.
# Unchanged marks are not repeated: a reader keeps what it got in its table, next to its state.
MARK_EVERY_S = 0.02
# A resolver key that names an NHI: an event read from an events partition that is not its NHI's
# (a producer with another partitioner) goes the resolver way to the partition that is.
DIRECT = "nhi:"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record, as the adapter hands it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    layout: bytes | None = None  # the nhi-wire header (transport.wire)


@dataclass(frozen=True, slots=True)
class Send:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None
    partition: int | None = None  # None: by the key


@dataclass(slots=True)
class MarkPolicy:
    """When a stage's marks go out on their own (they always ride along with data). Dirty at
    first: a (re)started stage tells every reader where it stands."""

    dirty: bool = True
    sent_at: float = -math.inf

    def due(self, now: float) -> bool:
        return self.dirty and now - self.sent_at >= MARK_EVERY_S

    def sent(self, now: float) -> None:
        self.dirty = False
        self.sent_at = now


# ------------------------------------------------------------------------------------------ route


@dataclass(slots=True)
class _Ops:
    index: list[tuple[str, str]] = field(default_factory=list)
    route: list[tuple[str, str | None, Event]] = field(default_factory=list)


class Router:
    """Events read from the events topic -> resolver batches, one per resolver partition."""

    def __init__(self, topics: Topics, partitioner: KeyPartitioner, memory: int = INDEX_MEMORY) -> None:
        self.topics = topics
        self.partitioner = partitioner
        self.memory = memory
        self._sent: dict[tuple[str, str], None] = {}  # insertion-ordered: the oldest is evicted
        self._ops: dict[int, _Ops] = {}
        self.policy = MarkPolicy()

    def route(self, event: Event) -> None:
        """Queue what ``event`` sends to the resolver (if anything)."""
        nhi = event.nhi
        n = self.topics.partitions
        if nhi:
            for k in index_keys(event):
                if self._first(k, nhi):
                    self._queue(spread(k.encode(), n)).index.append((k, nhi))
        rkey = routing_key(event)
        if rkey is not None:
            self._queue(spread(rkey.encode(), n)).route.append((rkey, nhi, event))

    def forward(self, nhi: str, event: Event) -> None:
        """Send ``event`` to ``nhi``'s own partition through the resolver (see DIRECT)."""
        key = DIRECT + nhi
        self._queue(spread(key.encode(), self.topics.partitions)).route.append((key, None, event))

    def _queue(self, partition: int) -> _Ops:
        ops = self._ops.get(partition)
        if ops is None:
            ops = self._ops[partition] = _Ops()
        return ops

    def flush(self, marks: list[Mark], now: float) -> list[Send]:
        """Queued ops as one batch per resolver partition, each with ``marks``; marks alone to the
        others when due."""
        ops, self._ops = self._ops, {}
        alone = self.policy.due(now)
        if not ops and not alone:
            return []
        out = []
        for p in range(self.topics.partitions):
            o = ops.get(p)
            if o is None and not alone:
                continue
            batch = ResolverBatch(marks, o.index, o.route) if o is not None else ResolverBatch(marks)
            out.append(Send(self.topics.resolver, None, encode_resolver(batch), headers(RESOLVER_V1), p))
        if alone:
            self.policy.sent(now)
        return out

    def _first(self, key: str, nhi: str) -> bool:
        pair = (key, nhi)
        sent = self._sent
        if pair in sent:
            return False
        sent[pair] = None
        if len(sent) > self.memory:
            del sent[next(iter(sent))]
        return True


# ---------------------------------------------------------------------------------------- resolve


def _utc_reduce(tz: TzInfo) -> tuple[Any, tuple[Any, ...]]:
    off = tz.utcoffset(None)
    return (getattr, (timezone, "utc")) if not off else (timezone, (off,))


# Event times carry pydantic's TzInfo, which pickles ~10x slower than the stdlib's timezone; an
# NHI's state holds hundreds of datetimes and is written once per batch. Same instants either way.
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[TzInfo] = _utc_reduce


def dump_state(obj: object) -> bytes:
    """Pickle our own state for our own changelog topics (never loaded from user input)."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(obj)
    return buf.getvalue()


def marks_key(partition: int) -> bytes:
    """The table key under which the resolver keeps the marks it read on ``partition`` (written
    to that partition of the table's changelog, so the partition's next owner recovers them)."""
    return b"\x00marks:%d" % partition


def dump_marks(ch: Channels) -> bytes:
    return dump_state((STATE_FORMAT, sorted(ch.marks.values(), key=lambda m: m.source)))


def load_marks(blob: bytes | None, sources: int) -> Channels:
    ch = Channels(sources)
    if blob is not None:
        version, marks = pickle.loads(blob)
        if version != STATE_FORMAT:
            raise ValueError(f"watermark state format {version} is not {STATE_FORMAT}")
        ch.update_all(marks)
    return ch


def dump_key_state(ks: KeyState) -> bytes:
    return dump_state((STATE_FORMAT, ks))


def load_key_state(blob: bytes) -> KeyState:
    version, ks = pickle.loads(blob)
    if version != STATE_FORMAT or not isinstance(ks, KeyState):
        raise ValueError(f"resolver state format {version} is not {STATE_FORMAT}")
    return ks


class ResolveStage:
    """resolver -> by-identity, over per-key ``KeyState``s the adapter keeps in a table."""

    def __init__(
        self,
        topics: Topics,
        partitioner: KeyPartitioner,
        load: Callable[[bytes], bytes | None] = lambda k: None,
    ) -> None:
        self.topics = topics
        self.partitioner = partitioner
        self._load = load  # the resolver-keys table: the marks a partition's last owner kept
        self.ops = 0
        self.bad = 0
        self.records = 0
        self._channels: dict[int, Channels] = {}  # resolver partition -> its sources' marks
        self.policy = MarkPolicy()

    def channels(self, partition: int) -> Channels:
        ch = self._channels.get(partition)
        if ch is None:
            # What this partition's last owner had forwarded: true of the topic whatever is re-read
            # (a re-read only re-sends what was sent before the marks that covered it).
            blob = self._load(marks_key(partition))
            ch = self._channels[partition] = load_marks(blob, self.topics.partitions)
            self.policy.dirty = True  # a new owner: tell every judge where this partition stands
        return ch

    def revoke(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            self._channels.pop(p, None)

    def marks(self) -> list[Mark]:
        """This stage's watermark per resolver partition it reads."""
        out = []
        for p, ch in sorted(self._channels.items()):
            low = ch.low()
            if ch.all_idle():
                out.append(Mark(p, ch.newest(), True))
            else:
                out.append(Mark(p, low if math.isfinite(low) else None, False))
        return out

    def run(
        self, records: Sequence[Record], load: Callable[[str], KeyState | None], now: float
    ) -> tuple[list[Send], dict[str, KeyState], dict[int, bytes]]:
        """Returns what to send, the changed key states and the changed marks per partition (write
        both after the sends are delivered)."""
        marked: dict[int, bytes] = {}
        pairs: dict[int, list[tuple[str, Event]]] = {}
        loaded: dict[str, KeyState] = {}
        changed: dict[str, KeyState] = {}
        n = self.topics.partitions
        part_of = self.partitioner.of

        def send(nhi: str, event: Event) -> None:
            pairs.setdefault(part_of(nhi.encode(), n), []).append((nhi, event))

        for r in records:
            self.records += 1
            try:
                check_layout(r.layout, RESOLVER_V1)
                batch = decode_resolver(r.value or b"")
            except (ValueError, msgspec.DecodeError):
                self.bad += 1  # our own topic: a bad record is a bug elsewhere, not a reason to stop
                continue
            for key, nhi in batch.index:
                self.ops += 1
                ks = self._key(key, loaded, load)
                if nhi in ks.nhis:
                    continue
                for parked in on_index(ks, nhi):
                    send(nhi, parked)
                changed[key] = ks
            for key, exclude, event in batch.route:
                self.ops += 1
                if key.startswith(DIRECT):
                    send(key[len(DIRECT) :], event)
                    continue
                ks = self._key(key, loaded, load)
                for target in on_routed(ks, event, key):
                    if target != exclude:
                        send(target, event)
                changed[key] = ks
            ch = self.channels(r.partition)
            if ch.update_all(batch.marks):
                self.policy.dirty = True
                marked[r.partition] = dump_marks(ch)
        return self.flush(pairs, now), changed, marked

    def flush(self, pairs: dict[int, list[tuple[str, Event]]], now: float) -> list[Send]:
        """Data per by-identity partition with this stage's marks; marks alone to all when due."""
        alone = self.policy.due(now)
        if not pairs and not alone:
            return []
        marks = self.marks()
        out = []
        for p in range(self.topics.partitions):
            events = pairs.get(p)
            if events is None and not alone:
                continue
            batch = JudgeBatch(marks, events or [])
            out.append(Send(self.topics.by_identity, None, encode_judge(batch), headers(BY_IDENTITY_V1), p))
        if alone:
            self.policy.sent(now)
        return out

    @staticmethod
    def _key(key: str, loaded: dict[str, KeyState], load: Callable[[str], KeyState | None]) -> KeyState:
        ks = loaded.get(key)
        if ks is None:
            ks = loaded[key] = load(key) or KeyState()
        return ks
