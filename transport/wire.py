"""Batch messages: the Kafka record layouts of the events topic and the worker's internal hops.

One Kafka record carries many events of one partition, so every per-record cost (the client's,
faust's, the broker's) is paid once per batch. The layout is named, with its version, in the
``nhi-wire`` header:

==================  ===============  =========================================================
header value        topic            value (JSON, written and read by msgspec)
==================  ===============  =========================================================
(none)              events           one native event (the contract; validated by pydantic)
``events/1``        events           ``[event, ...]``: events of one partition, in read order
``resolver/1``      resolver         ``[[mark, ...], [[key, nhi], ...], [[key, exclude, event],
                                     ...]]``: index ops and key-routed events for one resolver
                                     partition
``by-identity/1``   by-identity      ``[[mark, ...], [[nhi, event], ...]]``: events for the NHIs
                                     of one by-identity partition
==================  ===============  =========================================================

A ``mark`` is ``[partition, newest event time, idle]``: the sender's watermark for one partition
of its input (see ``streams.watermarks``), covering every event of that partition it sent in this
record or before; a batch with no events carries only marks. A reader
refuses a header value it does not know, so a newer layout is never misread as an older one.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from contract.events import Event

HEADER = "nhi-wire"
EVENTS_V1 = b"events/1"
RESOLVER_V1 = b"resolver/1"
BY_IDENTITY_V1 = b"by-identity/1"
# Kafka's default record limit is 1 MB; a batch encoding past this is split in two.
MAX_BATCH_BYTES = 512 * 1024

Headers = list[tuple[str, bytes]]


class Mark(msgspec.Struct, array_like=True, frozen=True):
    """A sender's watermark: the newest event time (epoch seconds) it has read from partition
    ``source`` of its input, or ``None`` before the first; ``idle`` once that input went quiet."""

    source: int
    newest: float | None
    idle: bool = False


class ResolverBatch(msgspec.Struct, array_like=True):
    marks: list[Mark]
    index: list[tuple[str, str]] = []  # (key, nhi)
    route: list[tuple[str, str | None, Event]] = []  # (key, NHI to leave out, event)


class JudgeBatch(msgspec.Struct, array_like=True):
    marks: list[Mark]
    events: list[tuple[str, Event]] = []  # (nhi, event)


class WireError(ValueError):
    """A record whose header names a layout this version does not read."""


_ENCODER = msgspec.json.Encoder()
_EVENTS = msgspec.json.Decoder(list[Event])
_RESOLVER = msgspec.json.Decoder(ResolverBatch)
_JUDGE = msgspec.json.Decoder(JudgeBatch)


def layout(headers: Sequence[tuple[str, bytes]] | None) -> bytes | None:
    """The ``nhi-wire`` header's value, or None (a single native event)."""
    for name, value in headers or ():
        if name == HEADER:
            return bytes(value)
    return None


def encode_batch(events: Sequence[Event]) -> list[tuple[bytes, int]]:
    """An events-topic batch as one or more (value, events in it), split while a value is over
    MAX_BATCH_BYTES."""
    blob = _ENCODER.encode(events)
    if len(blob) <= MAX_BATCH_BYTES or len(events) < 2:
        return [(blob, len(events))]
    half = len(events) // 2
    return encode_batch(events[:half]) + encode_batch(events[half:])


def decode_batch(value: bytes) -> list[Event]:
    """An ``events/1`` value; msgspec.ValidationError / DecodeError when it is not one."""
    return _EVENTS.decode(value)


def encode_resolver(batch: ResolverBatch) -> bytes:
    return _ENCODER.encode(batch)


def decode_resolver(value: bytes) -> ResolverBatch:
    return _RESOLVER.decode(value)


def encode_judge(batch: JudgeBatch) -> bytes:
    return _ENCODER.encode(batch)


def decode_judge(value: bytes) -> JudgeBatch:
    return _JUDGE.decode(value)


def headers(kind: bytes) -> Headers:
    return [(HEADER, kind)]


def check_layout(kind: bytes | None, expected: bytes) -> None:
    if kind != expected:
        shown = kind.decode("utf-8", "replace") if kind is not None else "(none)"
        raise WireError(f"{HEADER} {shown!r}: this version reads {expected.decode()} here")
