"""The Kafka worker's three stages as plain per-batch code over the same functions as replay.

    events      --route-->   by-identity (key NHI): every event that names its NHI
                             resolver (key task/credential/owner): index ops, key-routed events
    resolver    --resolve--> by-identity: parked events for a newly indexed NHI, and key-routed
                             events for every NHI indexed under the key
    by-identity --judge-->   findings, trust, entities: reorder per partition, ``step`` per NHI

No Kafka client here: ``streams.faust_app`` feeds consumed records in, sends what comes out,
writes the returned state to its tables and acks. The stages call the engine's own per-key
functions (``index_keys``, ``on_index``, ``on_routed``, ``ReorderBuffer``, ``step``), which is
why the worker's findings are the replay's findings.

Crash semantics (at-least-once everywhere, effects idempotent):
* route/resolve: outputs are awaited before the batch is acked and before resolver state is
  written, so a crash re-sends (never drops); a re-sent index op is a no-op, a re-sent routed
  event reaches its NHIs again and their ``NhiState`` drops it by event id.
* judge: a held (not yet released) record is not acked, so Kafka's committed offset never passes
  it and a restart reads it again. Each NHI's stored state carries its partition's progress
  ``(offset, hold)``: every record of that partition at or before ``offset`` whose event time is
  before ``hold`` (the oldest held event then) had been applied. Re-read records under that mark
  are skipped, which is what keeps a restart from repeating findings however many events an NHI
  had in the re-read range. Outputs are delivered before the state that produced them is written,
  so a crash between the two re-emits identical changes (same finding ids), never loses them.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from ingest.events import Event
from ingest.kafka_producer import H_LOCATION, H_REASON, H_SOURCE
from ingest.secrets import scrub_text
from streams.codec import decode_event, encode_entity, encode_event, encode_finding, encode_trust
from streams.correlate import step
from streams.engine import credential_row, identity_row, task_row
from streams.records import IdentityRow, TrustChange
from streams.reorder import ReorderBuffer
from streams.resolver import KeyState, index_keys, on_index, on_routed, routing_key
from streams.settings import Settings
from streams.state import NhiState
from streams.topics import Topics

STATE_FORMAT = 1
# (key, NHI) index ops sent recently; repeats are skipped (a re-sent op would be a no-op anyway)
INDEX_MEMORY = 100_000

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record, as the adapter hands it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Send:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None


# ------------------------------------------------------------------------------------------ route


class RouteStage:
    """events -> by-identity and resolver. Validates each event (the topic is input like any other)."""

    def __init__(self, topics: Topics, fingerprint_key: str, memory: int = INDEX_MEMORY) -> None:
        self.topics = topics
        self.fingerprint_key = fingerprint_key
        self.memory = memory
        self._sent: dict[tuple[str, str], None] = {}  # insertion-ordered: the oldest is evicted
        self.events = 0
        self.rejects = 0

    def run(self, records: Sequence[Record]) -> list[Send]:
        out: list[Send] = []
        by_identity, resolver = self.topics.by_identity, self.topics.resolver
        for r in records:
            try:
                if r.value is None:
                    raise ValueError("empty record")
                event = decode_event(r.value)
            except (ValidationError, ValueError) as exc:
                out.append(self._reject(r, exc))
                continue
            self.events += 1
            nhi = event.nhi
            if nhi:
                out.append(Send(by_identity, nhi.encode(), r.value))
                for k in index_keys(event):
                    if self._first(k, nhi):
                        op = orjson.dumps({"op": "index", "key": k, "nhi": nhi})
                        out.append(Send(resolver, k.encode(), op))
            rkey = routing_key(event)
            if rkey is not None:
                # The validated event is embedded as it arrived: no re-encoding on the hot path.
                route = {"op": "route", "key": rkey, "exclude": nhi, "event": orjson.Fragment(r.value)}
                out.append(Send(resolver, rkey.encode(), orjson.dumps(route)))
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

    def _reject(self, r: Record, exc: Exception) -> Send:
        self.rejects += 1
        raw = (r.value or b"").decode("utf-8", errors="replace")
        headers = [
            (H_REASON, scrub_text(f"not a canonical event: {exc}", self.fingerprint_key).encode()),
            (H_SOURCE, b"worker"),
            (H_LOCATION, f"{r.topic}/{r.partition}@{r.offset}".encode()),
        ]
        return Send(self.topics.dlq, r.key, scrub_text(raw, self.fingerprint_key).encode(), headers)


# ---------------------------------------------------------------------------------------- resolve


def dump_key_state(ks: KeyState) -> bytes:
    # Our own state in our own changelog topic; never loaded from user input.
    return pickle.dumps((STATE_FORMAT, ks), protocol=pickle.HIGHEST_PROTOCOL)


def load_key_state(blob: bytes) -> KeyState:
    version, ks = pickle.loads(blob)
    if version != STATE_FORMAT or not isinstance(ks, KeyState):
        raise ValueError(f"resolver state format {version} is not {STATE_FORMAT}")
    return ks


class ResolveStage:
    """resolver -> by-identity, over per-key ``KeyState``s the adapter keeps in a table."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.ops = 0
        self.bad = 0

    def run(
        self, records: Sequence[Record], load: Callable[[str], KeyState | None]
    ) -> tuple[list[Send], dict[str, KeyState]]:
        """Returns what to send and the changed key states (write them after the sends are delivered)."""
        out: list[Send] = []
        loaded: dict[str, KeyState] = {}
        changed: dict[str, KeyState] = {}
        by_identity = self.topics.by_identity
        for r in records:
            try:
                op = orjson.loads(r.value or b"")
                key = op["key"]
                kind = op["op"]
                event = Event.model_validate(op["event"]) if kind == "route" else None
            except (ValueError, KeyError, TypeError, ValidationError):
                self.bad += 1  # our own topic: a bad record is a bug elsewhere, not a reason to stop
                continue
            self.ops += 1
            ks = loaded.get(key)
            if ks is None:
                ks = loaded[key] = load(key) or KeyState()
            if event is None:
                nhi = op["nhi"]
                if nhi in ks.nhis:
                    continue
                out.extend(Send(by_identity, nhi.encode(), encode_event(p)) for p in on_index(ks, nhi))
            else:
                value = encode_event(event)
                exclude = op.get("exclude")
                out.extend(Send(by_identity, n.encode(), value) for n in on_routed(ks, event) if n != exclude)
            changed[key] = ks
        return out, changed


# ------------------------------------------------------------------------------------------ judge


@dataclass(slots=True)
class _Nhi:
    state: NhiState
    partition: int
    offset: int = -1  # progress stored with the state; see the module docstring
    hold: float = -math.inf


@dataclass(slots=True)
class _Partition:
    buffer: ReorderBuffer
    held: dict[tuple[str, str], list[object]] = field(default_factory=dict)  # (nhi, event id) -> acks
    offset: int = -1  # highest offset pushed
    last_arrival: float = 0.0  # monotonic seconds


@dataclass(slots=True)
class Released:
    sends: list[Send] = field(default_factory=list)
    states: dict[bytes, bytes] = field(default_factory=dict)  # table key -> value
    acks: list[object] = field(default_factory=list)
    events: int = 0
    findings: int = 0
    trust: int = 0


def dump_nhi(n: _Nhi) -> bytes:
    return pickle.dumps((STATE_FORMAT, n.state, n.offset, n.hold), protocol=pickle.HIGHEST_PROTOCOL)


def load_nhi(blob: bytes, partition: int) -> _Nhi:
    version, state, offset, hold = pickle.loads(blob)
    if version != STATE_FORMAT or not isinstance(state, NhiState):
        raise ValueError(f"NHI state format {version} is not {STATE_FORMAT}")
    return _Nhi(state, partition, offset, hold)


class JudgeStage:
    """by-identity -> findings, trust, entities: a reorder buffer per partition, a state per NHI."""

    def __init__(self, topics: Topics, settings: Settings, load: Callable[[bytes], bytes | None]) -> None:
        self.topics = topics
        self.settings = settings
        self._load = load
        self._parts: dict[int, _Partition] = {}
        self._nhis: dict[str, _Nhi] = {}
        self.skipped = 0  # re-read after a restart, already applied
        self.bad = 0

    @property
    def held(self) -> int:
        return sum(len(p.buffer) for p in self._parts.values())

    @property
    def late(self) -> int:
        """Events that arrived behind what their partition had already released."""
        return sum(p.buffer.late for p in self._parts.values())

    def _nhi(self, nhi: str, partition: int) -> _Nhi:
        n = self._nhis.get(nhi)
        if n is None:
            blob = self._load(nhi.encode())
            n = load_nhi(blob, partition) if blob is not None else _Nhi(NhiState(nhi), partition)
            self._nhis[nhi] = n
        return n

    def push(self, r: Record, ack: object, now: float | None = None) -> bool:
        """Take one record; True when it is held, so its ``ack`` must wait for ``release``."""
        try:
            nhi = (r.key or b"").decode()
            event = decode_event(r.value or b"")
        except (ValidationError, ValueError):
            self.bad += 1
            return False
        part = self._parts.get(r.partition)
        if part is None:
            part = self._parts[r.partition] = _Partition(ReorderBuffer(self.settings.reorder_window))
        part.offset = max(part.offset, r.offset)
        part.last_arrival = time.monotonic() if now is None else now
        n = self._nhi(nhi, r.partition)
        if r.offset <= n.offset and event.time.timestamp() < n.hold:
            self.skipped += 1
            return False
        part.buffer.push(nhi, event)
        part.held.setdefault((nhi, event.id), []).append(ack)
        return True

    def idle(self, now: float, after_s: float) -> list[int]:
        """Partitions holding events that have received nothing for ``after_s`` seconds."""
        return [
            p for p, part in self._parts.items() if part.buffer.heap and now - part.last_arrival >= after_s
        ]

    def release(self, partitions: Iterable[int], *, drain: bool = False) -> Released:
        """Judge what each partition's buffer releases (everything, with ``drain``)."""
        out = Released()
        touched: dict[str, _Nhi] = {}
        creds: set[tuple[str, str]] = set()
        tasks: set[tuple[str, str]] = set()
        trust: list[TrustChange] = []
        s = self.settings
        for p in partitions:
            part = self._parts.get(p)
            if part is None:
                continue
            buf = part.buffer
            for nhi, event in buf.drain() if drain else buf.ready():
                acks = part.held.get((nhi, event.id))
                if acks:
                    out.acks.append(acks.pop())
                    if not acks:
                        del part.held[(nhi, event.id)]
                n = self._nhi(nhi, p)
                findings, change = step(event, n.state, s)
                out.events += 1
                touched[nhi] = n
                if findings:
                    out.findings += len(findings)
                    out.sends.extend(
                        Send(self.topics.findings, nhi.encode(), encode_finding(f)) for f in findings
                    )
                if change is not None:
                    trust.append(change)
                if event.credential:
                    creds.add((nhi, event.credential))
                if event.task:
                    tasks.add((nhi, event.task))
        for n in touched.values():
            part = self._parts[n.partition]
            n.offset = part.offset
            n.hold = part.buffer.heap[0][0] if part.buffer.heap else math.inf
        self._snapshots(out, touched, trust, creds, tasks)
        return out

    def _snapshots(
        self,
        out: Released,
        touched: dict[str, _Nhi],
        trust: list[TrustChange],
        creds: set[tuple[str, str]],
        tasks: set[tuple[str, str]],
    ) -> None:
        rows: dict[str, IdentityRow] = {}
        for change in trust:
            row = rows.get(change.nhi)
            if row is None:
                row = rows[change.nhi] = identity_row(touched[change.nhi].state)
            out.sends.append(Send(self.topics.trust, change.nhi.encode(), encode_trust(change, row)))
        out.trust = len(trust)
        for nhi, cred in sorted(creds):
            cs = touched[nhi].state.credentials.get(cred)
            if cs is not None:
                key, value = encode_entity(credential_row(nhi, cs))
                out.sends.append(Send(self.topics.entities, key, value))
        for nhi, task in sorted(tasks):
            ts = touched[nhi].state.tasks.get(task)
            if ts is not None:
                key, value = encode_entity(task_row(nhi, ts))
                out.sends.append(Send(self.topics.entities, key, value))
        for nhi, n in touched.items():
            out.states[nhi.encode()] = dump_nhi(n)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns: it re-reads what was held here (never acked)."""
        gone = set(partitions)
        for p in gone:
            self._parts.pop(p, None)
        for nhi in [k for k, n in self._nhis.items() if n.partition in gone]:
            del self._nhis[nhi]
