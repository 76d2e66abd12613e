"""The judge stage: by-identity -> findings, trust, entities (see ``streams.stages`` for the flow).

A reorder buffer per by-identity partition (event-time order, bounded lateness, exactly as in
replay), an ``NhiState`` per NHI, and ``step`` - the same per-NHI function replay calls.

Crash semantics. Every record is acked by the next ``checkpoint`` (about once a second), when
its effect is in Kafka: a released record's NHI state is written to the "nhi-state" table; a
record still held for ordering is written to the "held" table (keyed partition:offset, in the
changelog partition of its by-identity partition) and deleted from it once released. So the
committed offset never passes a record that only lived in memory, and faust's ack/commit logic
is only ever asked to commit a contiguous prefix. A restarted (or new) owner of a partition
loads its held records back into the reorder buffer before taking new ones.

Each NHI's stored state also carries its partition's progress ``(offset, hold)``: every record
of that partition at or before ``offset`` whose event time is before ``hold`` (the oldest held
event then) had been applied. Records re-delivered after a crash under that mark are skipped,
and re-delivered copies of held records are recognised by offset - which is what keeps a
restart from repeating findings however many events an NHI had in the re-delivered range.
Outputs are sent before the state that produced them is written, so a crash between the two
re-emits identical changes (same finding ids; the sink upserts), never loses them; a clean stop
checkpoints first and re-emits nothing.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from contract.records import IdentityRow, TrustChange
from contract.settings import Settings
from streams.correlate import step
from streams.engine import credential_row, identity_row, task_row
from streams.reorder import ReorderBuffer
from streams.stages import STATE_FORMAT, Record, Send, dump_state
from streams.state import NhiState
from transport.codec import decode_event, encode_entity, encode_finding, encode_trust
from transport.topics import Topics


@dataclass(slots=True)
class _Nhi:
    state: NhiState
    partition: int
    offset: int = -1  # progress stored with the state; see the module docstring
    hold: float = -math.inf
    last_trust: TrustChange | None = None  # this process's latest, to refresh the identity row
    stale_row: bool = False  # touched since its identity row last went out


@dataclass(slots=True)
class _Partition:
    buffer: ReorderBuffer
    # (nhi, event id) -> (offset, event bytes) of each copy in the buffer
    held: dict[tuple[str, str], list[tuple[int, bytes]]] = field(default_factory=dict)
    persisted: set[int] = field(default_factory=set)  # offsets of held records in the held table
    fresh: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # held since the last checkpoint
    released: set[int] = field(default_factory=set)  # offsets released since the last checkpoint
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
    """Send ``sends``, then write ``states`` and ``held``, then ack ``acks``: in that order."""

    sends: list[Send] = field(default_factory=list)  # entity snapshots: latest rows, so per checkpoint
    states: dict[bytes, bytes] = field(default_factory=dict)  # nhi-state table: key -> value
    held: list[tuple[int, bytes, bytes | None]] = field(
        default_factory=list
    )  # (partition, key, value|delete)
    acks: list[object] = field(default_factory=list)


def held_key(partition: int, offset: int) -> bytes:
    return b"%d:%d" % (partition, offset)


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
        self._acks: list[object] = []  # of every record taken since the last checkpoint
        self.records = 0  # records taken
        self.skipped = 0  # re-read after a restart, already applied or already held
        self.restored = 0  # held records loaded back from the held table
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
        """Take one record. True: its ``ack`` is kept and handed back by a ``checkpoint``;
        False: nothing depends on it (bad, already applied, already held), ack it now."""
        self.records += 1
        try:
            nhi = (r.key or b"").decode()
            event = decode_event(r.value or b"")
        except (ValidationError, ValueError):
            self.bad += 1
            return False
        part = self._part(r.partition)
        part.offset = max(part.offset, r.offset)
        part.last_arrival = time.monotonic() if now is None else now
        n = self._nhi(nhi, r.partition)
        if r.offset in part.persisted or (r.offset <= n.offset and event.time.timestamp() < n.hold):
            self.skipped += 1
            return False
        part.buffer.push(nhi, event)
        part.held.setdefault((nhi, event.id), []).append((r.offset, r.value or b""))
        part.fresh[r.offset] = (nhi, r.value or b"")
        self._acks.append(ack)
        return True

    def _part(self, p: int) -> _Partition:
        part = self._parts.get(p)
        if part is None:
            part = self._parts[p] = _Partition(ReorderBuffer(self.settings.reorder_window))
        return part

    def loaded(self, partition: int) -> bool:
        return partition in self._parts

    def load_held(self, partition: int, rows: Iterable[tuple[bytes, bytes]]) -> int:
        """Put a partition's held-table rows back in its reorder buffer (before any new record)."""
        part = self._part(partition)
        n = 0
        for key, value in rows:
            offset = int(key.split(b":", 1)[1])
            nhi, raw = pickle.loads(value)
            event = decode_event(raw)
            part.buffer.push(nhi, event)
            part.held.setdefault((nhi, event.id), []).append((offset, raw))
            part.persisted.add(offset)
            part.offset = max(part.offset, offset)
            n += 1
        self.restored += n
        part.last_arrival = time.monotonic()
        return n

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
                copies = part.held.get((nhi, event.id))
                if copies:
                    offset, _ = copies.pop()
                    part.released.add(offset)
                    if not copies:
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
                    n.last_trust = change
                if event.credential:
                    creds.add((nhi, event.credential))
                if event.task:
                    tasks.add((nhi, event.task))
        self._dirty.update(touched)
        rows: dict[str, IdentityRow] = {}
        for change in trust:
            row = rows.get(change.nhi)
            state = touched[change.nhi].state
            if row is None and state.first_seen is not None:  # else only observations of others yet
                row = rows[change.nhi] = identity_row(state)
            out.sends.append(Send(self.topics.trust, change.nhi.encode(), encode_trust(change, row)))
        out.trust = len(trust)
        for nhi, n in touched.items():
            n.stale_row = nhi not in rows
        return out

    @property
    def unsaved(self) -> int:
        """Records taken since the last checkpoint (their acks wait for it)."""
        return len(self._acks)

    @property
    def dirty(self) -> bool:
        """Anything for a checkpoint to write: acks, changed states, held records come or gone."""
        return bool(self._acks or self._dirty or any(p.fresh or p.released for p in self._parts.values()))

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
            if n.stale_row and n.last_trust is not None and n.state.first_seen is not None:
                # The identity row only travels with trust changes; an NHI whose events changed
                # nothing in its score would keep a stale row (event count, last seen). Its last
                # change again, with today's row: the sink's trust history keeps it once (same
                # nhi and event id) and upserts the identity.
                ident = identity_row(n.state)
                out.sends.append(Send(self.topics.trust, nhi.encode(), encode_trust(n.last_trust, ident)))
                n.stale_row = False
        for nhi, n in nhis.items():
            part = self._parts.get(n.partition)
            if part is None:  # revoked meanwhile: the new owner re-reads and writes it
                continue
            n.offset = part.offset
            n.hold = part.buffer.heap[0][0] if part.buffer.heap else math.inf
            out.states[nhi.encode()] = dump_nhi(n)
        for p, part in self._parts.items():
            # Held records persisted since; released ones dropped. A record held and released
            # between two checkpoints never touches the table.
            for offset, row in part.fresh.items():
                if offset not in part.released:
                    out.held.append((p, held_key(p, offset), dump_state(row)))
                    part.persisted.add(offset)
            for offset in part.released & part.persisted:
                out.held.append((p, held_key(p, offset), None))
                part.persisted.discard(offset)
            part.fresh, part.released = {}, set()
        out.acks, self._acks = self._acks, []
        self._dirty, self._creds, self._tasks = {}, set(), set()
        return out

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns: it loads their held table and re-reads the rest."""
        gone = set(partitions)
        for p in gone:
            self._parts.pop(p, None)
        for nhi in [k for k, n in self._nhis.items() if n.partition in gone]:
            del self._nhis[nhi]
            self._dirty.pop(nhi, None)
