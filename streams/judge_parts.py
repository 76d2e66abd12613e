"""The judge stage's records: what it keeps per NHI, per consumed record and per partition, what
a release and a checkpoint hand to the adapter, and the stored form of an NHI's state."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field

from contract.records import TrustChange
from streams.reorder import ReorderBuffer
from streams.stages import STATE_FORMAT, Send, dump_state
from streams.state import NhiState
from streams.watermarks import Channels, SourceClock


@dataclass(slots=True)
class NhiSlot:
    state: NhiState
    partition: int
    offsets: dict[str, int] = field(default_factory=dict)  # progress stored with the state
    hold: float = -math.inf
    last_trust: TrustChange | None = None  # this process's latest, to refresh the identity row
    stale_row: bool = False  # touched since its identity row last went out


@dataclass(slots=True)
class Ticket:
    """One consumed record: acked once none of its events is held (and a checkpoint stored them).
    ``acks``: the record as delivered, and again if the consumer delivered it twice."""

    key: tuple[str, int]  # (topic, offset)
    acks: list[object]
    held: int = 0


@dataclass(slots=True)
class PartitionSlot:
    buffer: ReorderBuffer
    source: SourceClock  # events p, read here: this partition's own watermark
    # The resolver partitions' marks, read from by-identity p. Not stored: a restarted owner re-reads
    # by-identity from the committed offset, and marks stored later than that would cover events
    # it has not re-read yet. Each (re)started source announces itself, which makes every resolver
    # partition announce its marks again.
    channels: Channels
    offsets: dict[str, int] = field(default_factory=dict)  # highest offset read, per input topic
    suspended: bool = False  # revoked, the new assignment not known yet: release nothing
    pending: dict[tuple[str, int], Ticket] = field(default_factory=dict)  # records with events held
    released_to: float = -math.inf  # the last horizon released


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
    states: dict[bytes, tuple[int, bytes]] = field(
        default_factory=dict
    )  # nhi-state: key -> (partition, value)
    acks: list[object] = field(default_factory=list)


def dump_nhi(n: NhiSlot) -> bytes:
    return dump_state((STATE_FORMAT, n.state, n.offsets, n.hold))


def load_nhi(blob: bytes, partition: int) -> NhiSlot:
    version, state, offsets, hold = pickle.loads(blob)
    if version != STATE_FORMAT or not isinstance(state, NhiState):
        raise ValueError(f"NHI state format {version} is not {STATE_FORMAT}")
    return NhiSlot(state, partition, offsets, hold)
