"""The judge stage: by-identity -> findings, trust, entities (see ``streams.stages`` for the flow).

A reorder buffer per by-identity partition (event-time order, bounded lateness, exactly as in
replay), an ``NhiState`` per NHI, and ``step`` - the same per-NHI function replay calls.

Crash semantics: a record is acked only once it is released AND the state it changed is written (a
``checkpoint``), so Kafka's committed offset never passes a held or unsaved record and a restart
reads it again. Each NHI's stored state carries its partition's progress ``(offset, hold)``:
every record of that partition at or before ``offset`` whose event time is before ``hold`` (the
oldest held event then) had been applied. Re-read records under that mark are skipped, which is
what keeps a restart from repeating findings however many events an NHI had in the re-read
range. Outputs are delivered before the state that produced them is written, so a crash between
the two re-emits identical changes (same finding ids; the sink upserts), never loses them; a
clean stop checkpoints first and re-emits nothing.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from streams.codec import decode_event, encode_entity, encode_finding, encode_trust
from streams.correlate import step
from streams.engine import credential_row, identity_row, task_row
from streams.records import IdentityRow, TrustChange
from streams.reorder import ReorderBuffer
from streams.settings import Settings
from streams.stages import STATE_FORMAT, Record, Send, dump_state
from streams.state import NhiState
from streams.topics import Topics


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
    events: int = 0
    findings: int = 0
    trust: int = 0


@dataclass(slots=True)
class Checkpoint:
    """Send ``sends``, then write ``states``, then ack ``acks``: in that order."""

    sends: list[Send] = field(default_factory=list)  # entity snapshots: latest rows, so per checkpoint
    states: dict[bytes, bytes] = field(default_factory=dict)  # table key -> value
    acks: list[object] = field(default_factory=list)


def dump_nhi(n: _Nhi) -> bytes:
    return dump_state((STATE_FORMAT, n.state, n.offset, n.hold))


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
        self._dirty: dict[str, _Nhi] = {}  # changed since the last checkpoint
        self._creds: set[tuple[str, str]] = set()  # (nhi, credential) changed since then
        self._tasks: set[tuple[str, str]] = set()
        self._acks: list[object] = []  # released since the last checkpoint
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
        creds, tasks = self._creds, self._tasks
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
                    self._acks.append(acks.pop())
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
        self._dirty.update(touched)
        rows: dict[str, IdentityRow] = {}
        for change in trust:
            row = rows.get(change.nhi)
            if row is None:
                row = rows[change.nhi] = identity_row(touched[change.nhi].state)
            out.sends.append(Send(self.topics.trust, change.nhi.encode(), encode_trust(change, row)))
        out.trust = len(trust)
        return out

    @property
    def unsaved(self) -> int:
        """Released records whose NHI states are not written yet (their acks wait for that)."""
        return len(self._acks)

    def checkpoint(self) -> Checkpoint:
        """Entity snapshots and NHI states changed since the last checkpoint, and the acks they free.

        Each state carries its partition's progress as of now: every record at or before the
        highest offset pushed, with an event time before the oldest still held, is in it.
        """
        out = Checkpoint()
        nhis = self._dirty
        for nhi, cred in sorted(self._creds):
            cs = nhis[nhi].state.credentials.get(cred) if nhi in nhis else None
            if cs is not None:
                key, value = encode_entity(credential_row(nhi, cs))
                out.sends.append(Send(self.topics.entities, key, value))
        for nhi, task in sorted(self._tasks):
            ts = nhis[nhi].state.tasks.get(task) if nhi in nhis else None
            if ts is not None:
                key, value = encode_entity(task_row(nhi, ts))
                out.sends.append(Send(self.topics.entities, key, value))
        for nhi, n in nhis.items():
            part = self._parts.get(n.partition)
            if part is None:  # revoked meanwhile: the new owner re-reads and writes it
                continue
            n.offset = part.offset
            n.hold = part.buffer.heap[0][0] if part.buffer.heap else math.inf
            out.states[nhi.encode()] = dump_nhi(n)
        out.acks, self._acks = self._acks, []
        self._dirty, self._creds, self._tasks = {}, set(), set()
        return out

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns: it re-reads what was held here (never acked)."""
        gone = set(partitions)
        for p in gone:
            self._parts.pop(p, None)
        for nhi in [k for k, n in self._nhis.items() if n.partition in gone]:
            del self._nhis[nhi]
            self._dirty.pop(nhi, None)
