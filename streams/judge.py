"""The judge stage: events and by-identity -> findings, trust, entities (the flow: ``streams.stages``).

Per judge partition ``p`` (events ``p`` and by-identity ``p``, co-partitioned by NHI): a reorder
buffer (event-time order, exactly as in replay), released up to the watermark of the slowest
input less the reorder window (``streams.watermarks``), an ``NhiState`` per NHI, and ``step`` -
the same per-NHI function replay calls. The same stage routes what it reads from events ``p`` to
the resolver (``streams.stages.Router``) and is that partition's watermark source.

Crash semantics. A record is acked once every event it brought is applied and the NHI states
that hold them are written (by the next ``checkpoint``, about once a second): faust commits the
contiguous acked prefix, so the committed offset never passes an event that lived only in
memory - one still held for ordering keeps its record, and everything after it, uncommitted. A
restarted (or new) owner of the partition re-reads from there.

Each NHI's stored state also carries its partition's progress: per input topic the highest
offset read, and ``hold``, the oldest event time still held then. Every re-read event at or
below that offset with an earlier time had been applied (the buffer releases in time order, so
what it held was all later than what it released), and is skipped; the rest go back in the
buffer. Outputs are sent before the state that produced them is written, so a crash between the
two re-emits identical changes (same finding ids; the sink upserts), never loses them; a clean
stop checkpoints first and re-emits nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import msgspec
from pydantic import ValidationError

from contract.events import Event
from contract.records import IdentityRow, TrustChange
from contract.settings import Settings
from streams.correlate import step
from streams.engine import credential_row, identity_row, task_row
from streams.judge_parts import Checkpoint, NhiSlot, PartitionSlot, Released, Ticket, dump_nhi, load_nhi
from streams.reorder import ReorderBuffer
from streams.stages import Record, Router, Send
from streams.state import NhiState
from streams.watermarks import Channels, SourceClock
from transport.codec import decode_event, encode_entity, encode_finding, encode_trust
from transport.partitioner import KeyPartitioner, spread
from transport.topics import Topics
from transport.wire import (
    BY_IDENTITY_V1,
    EVENTS_V1,
    Mark,
    WireError,
    check_layout,
    decode_batch,
    decode_judge,
)


class JudgeStage:
    """events + by-identity -> findings, trust, entities: a reorder buffer per partition, a state per NHI."""

    def __init__(
        self,
        topics: Topics,
        settings: Settings,
        load: Callable[[bytes], bytes | None],
        partitioner: KeyPartitioner | None = None,
    ) -> None:
        self.topics = topics
        self.settings = settings
        self.window = settings.reorder_window.total_seconds()
        self._load = load
        self.router = Router(topics, partitioner or KeyPartitioner())
        self._parts: dict[int, PartitionSlot] = {}
        self._nhis: dict[str, NhiSlot] = {}
        self._dirty: dict[str, NhiSlot] = {}  # changed since the last checkpoint
        self._creds: set[tuple[str, str]] = set()  # (nhi, credential) changed since then
        self._tasks: set[tuple[str, str]] = set()
        # (partition, ack) of records whose events are all applied, since the last checkpoint
        self._acks: list[tuple[int, object]] = []
        self.records = 0  # records taken
        self.events = 0  # valid events read from the events topic
        self.rejects = 0  # records of the events topic that are not canonical events
        self.last_reject = ""
        self.skipped = 0  # re-read after a restart and already applied
        self.redelivered = 0  # records delivered again to this process (skipped as a whole)
        self.bad = 0  # by-identity records that don't decode (a bug elsewhere)

    @property
    def held(self) -> int:
        return sum(len(p.buffer) for p in self._parts.values())

    @property
    def late(self) -> int:
        """Events that arrived behind what their partition had already released."""
        return sum(p.buffer.late for p in self._parts.values())

    @property
    def nhi_count(self) -> int:
        return len(self._nhis)

    def partitions(self) -> list[int]:
        return sorted(self._parts)

    def _nhi(self, nhi: str, partition: int) -> NhiSlot:
        n = self._nhis.get(nhi)
        if n is None:
            blob = self._load(nhi.encode())
            n = load_nhi(blob, partition) if blob is not None else NhiSlot(NhiState(nhi), partition)
            self._nhis[nhi] = n
        return n

    def part(self, p: int) -> PartitionSlot:
        part = self._parts.get(p)
        if part is None:
            n = self.topics.partitions
            part = self._parts[p] = PartitionSlot(
                ReorderBuffer(self.settings.reorder_window), SourceClock(p), Channels(n)
            )
            self.router.policy.dirty = True  # a new source: announce it
        return part

    # ----------------------------------------------------------------------------------- input

    def push(self, r: Record, ack: object, now: float) -> None:
        """Take one record; its ``ack`` comes back from a ``checkpoint`` once its events are applied."""
        self.records += 1
        part = self.part(r.partition)
        if r.offset <= part.offsets.get(r.topic, -1):
            # Read before by this process (a rebalance gave the partition straight back and the
            # consumer went back to the committed offset): its events are held or applied already.
            self.redelivered += 1
            first = part.pending.get((r.topic, r.offset))
            if first is not None:
                first.acks.append(ack)  # acked with the first copy, once its events are applied
            else:
                self._acks.append((r.partition, ack))
            return
        part.offsets[r.topic] = r.offset
        ticket = Ticket((r.topic, r.offset), [ack])
        if r.topic == self.topics.events:
            self._push_events(r, part, ticket, now)
        else:
            self._push_routed(r, part, ticket)
        if ticket.held:
            part.pending[ticket.key] = ticket
        else:
            self._acks.append((r.partition, ack))

    def _push_events(self, r: Record, part: PartitionSlot, ticket: Ticket, now: float) -> None:
        try:
            if r.layout is None:
                events = [decode_event(r.value or b"")]  # a native producer's single event
            else:
                check_layout(r.layout, EVENTS_V1)
                events = decode_batch(r.value or b"")
        except (ValidationError, ValueError, msgspec.DecodeError) as exc:
            # Skipped, not sent to the DLQ: the sink reads the events topic too and stores such a
            # record as a reject (with its location); a DLQ copy would make it two rejects.
            self.rejects += 1
            self.last_reject = f"{r.topic}/{r.partition}@{r.offset}: {type(exc).__name__}"
            if part.source.saw((), now):
                self.router.policy.dirty = True
            return
        self.events += len(events)
        route = self.router.route
        times = []
        here = r.partition
        part_of, n = self.router.partitioner.of, self.topics.partitions
        for event in events:
            t = event.time.timestamp()
            times.append(t)
            nhi = event.nhi
            if nhi:
                if part_of(nhi.encode(), n) == here:
                    self._hold(nhi, event, t, r, part, ticket)
                else:
                    # Keyed by another producer's partitioner: its NHI's state lives elsewhere.
                    self.router.forward(nhi, event)
            route(event)
        if part.source.saw(times, now):
            self.router.policy.dirty = True

    def _push_routed(self, r: Record, part: PartitionSlot, ticket: Ticket) -> None:
        try:
            check_layout(r.layout, BY_IDENTITY_V1)
            batch = decode_judge(r.value or b"")
        except (WireError, ValueError, msgspec.DecodeError):
            self.bad += 1  # our own topic: a bad record is a bug elsewhere, not a reason to stop
            return
        for nhi, event in batch.events:
            self._hold(nhi, event, event.time.timestamp(), r, part, ticket)
        part.channels.update_all(batch.marks)

    def _hold(self, nhi: str, event: Event, t: float, r: Record, part: PartitionSlot, ticket: Ticket) -> None:
        n = self._nhi(nhi, r.partition)
        if t < n.hold and r.offset <= n.offsets.get(r.topic, -1):
            self.skipped += 1  # applied before a restart: see the module docstring
            return
        ticket.held += 1
        part.buffer.push(nhi, event, ticket, t)

    # ---------------------------------------------------------------------------------- output

    def horizon(self, p: int) -> float:
        """What partition ``p`` may release up to: the slowest input's mark less the window."""
        part = self._parts[p]
        low = part.channels.low()
        src = part.source
        if not src.idle:
            own = src.newest if src.newest is not None else -math.inf
            low = min(low, own)
        return low if low == math.inf else low - self.window

    def release(self, partitions: Iterable[int]) -> Released:
        """Judge what each partition's buffer holds up to its horizon."""
        out = Released()
        touched: dict[str, NhiSlot] = {}
        creds, tasks, acks = self._creds, self._tasks, self._acks
        trust: list[TrustChange] = []
        s = self.settings
        findings_topic = self.topics.findings
        for p in partitions:
            part = self._parts.get(p)
            if part is None or not part.buffer.heap or part.suspended:
                continue
            horizon = self.horizon(p)
            part.released_to = max(part.released_to, horizon)
            for nhi, event, ticket in part.buffer.until(horizon):
                ticket.held -= 1
                if not ticket.held:
                    acks.extend((p, a) for a in ticket.acks)
                    del part.pending[ticket.key]
                n = self._nhi(nhi, p)
                findings, change = step(event, n.state, s)
                out.events += 1
                touched[nhi] = n
                if findings:
                    out.findings += len(findings)
                    key = nhi.encode()
                    p_out = self.router.partitioner.of(key, self.topics.partitions)
                    out.sends.extend(
                        Send(findings_topic, key, encode_finding(f), None, p_out) for f in findings
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
            key = change.nhi.encode()
            p_out = self.router.partitioner.of(key, self.topics.partitions)
            out.sends.append(Send(self.topics.trust, key, encode_trust(change, row), None, p_out))
        out.trust = len(trust)
        for nhi, n in touched.items():
            n.stale_row = nhi not in rows
        return out

    def ready(self) -> list[int]:
        """Partitions holding an event their horizon now lets go."""
        return [
            p
            for p, part in self._parts.items()
            if part.buffer.heap and not part.suspended and part.buffer.heap[0][0] <= self.horizon(p)
        ]

    def quiet_sources(self, now: float, after_s: float) -> list[int]:
        """Events partitions, not idle yet, that got nothing for ``after_s``."""
        return [
            p
            for p, part in self._parts.items()
            if not part.source.idle and now - part.source.last_arrival >= after_s
        ]

    def idle_sources(self, now: float, after_s: float, caught_up: Callable[[int], bool]) -> bool:
        """Mark idle the events partitions that got nothing for ``after_s`` and are read to their
        end (``caught_up``); True when any changed."""
        changed = False
        for p, part in self._parts.items():
            src = part.source
            if not src.idle and now - src.last_arrival >= after_s and caught_up(p):
                src.idle = True
                changed = True
        return changed

    def source_marks(self) -> list[Mark]:
        return [part.source.mark() for _, part in sorted(self._parts.items())]

    @property
    def unsaved(self) -> int:
        """Records whose acks wait for the next checkpoint."""
        return len(self._acks)

    @property
    def dirty(self) -> bool:
        """Anything for a checkpoint to write: acks or changed states."""
        return bool(self._acks or self._dirty)

    def checkpoint(self) -> Checkpoint:
        """Entity snapshots and NHI states changed since the last checkpoint, and the acks they free.

        Each state carries its partition's progress as of now: every event read at or before the
        highest offsets read, with an event time before the oldest still held, is in it.
        """
        out = Checkpoint()
        nhis = self._dirty
        for nhi, cred in sorted(self._creds):
            cs = nhis[nhi].state.credentials.get(cred) if nhi in nhis else None
            if cs is not None:
                key, value = encode_entity(credential_row(nhi, cs))
                out.sends.append(
                    Send(self.topics.entities, key, value, None, spread(key, self.topics.partitions))
                )
        for nhi, task in sorted(self._tasks):
            ts = nhis[nhi].state.tasks.get(task) if nhi in nhis else None
            if ts is not None:
                key, value = encode_entity(task_row(nhi, ts))
                out.sends.append(
                    Send(self.topics.entities, key, value, None, spread(key, self.topics.partitions))
                )
        for nhi, n in nhis.items():
            if n.stale_row and n.last_trust is not None and n.state.first_seen is not None:
                # The identity row only travels with trust changes; an NHI whose events changed
                # nothing in its score would keep a stale row (event count, last seen). Its last
                # change again, with today's row: the sink's trust history keeps it once (same
                # nhi and event id) and upserts the identity.
                ident = identity_row(n.state)
                key = nhi.encode()
                p_out = self.router.partitioner.of(key, self.topics.partitions)
                out.sends.append(Send(self.topics.trust, key, encode_trust(n.last_trust, ident), None, p_out))
                n.stale_row = False
        for nhi, n in nhis.items():
            part = self._parts.get(n.partition)
            if part is None:  # revoked meanwhile: the new owner re-reads and writes it
                continue
            n.offsets = dict(part.offsets)
            n.hold = part.buffer.heap[0][0] if part.buffer.heap else math.inf
            out.states[nhi.encode()] = (n.partition, dump_nhi(n))
        out.acks, self._acks = [ack for _, ack in self._acks], []
        self._dirty, self._creds, self._tasks = {}, set(), set()
        return out

    def suspend(self, partitions: Iterable[int]) -> None:
        """A rebalance began: hold these partitions as they are until the new assignment is known.
        (faust revokes every partition first; most come straight back, and dropping those would
        drop records that are read but not acked, which the consumer does not deliver again.)"""
        for p in partitions:
            part = self._parts.get(p)
            if part is not None:
                part.suspended = True

    def assigned(self, partitions: Iterable[int]) -> None:
        """The new assignment: keep (and resume) these partitions, forget the others."""
        keep = set(partitions)
        self.revoke([p for p in self._parts if p not in keep])
        for p in keep:
            self.part(p).suspended = False

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns: it re-reads what they had not committed."""
        gone = set(partitions)
        for p in gone:
            self._parts.pop(p, None)
        # Their released records must not be acked: the states that hold them are not written.
        self._acks = [(p, ack) for p, ack in self._acks if p not in gone]
        for nhi in [k for k, n in self._nhis.items() if n.partition in gone]:
            del self._nhis[nhi]
            self._dirty.pop(nhi, None)
