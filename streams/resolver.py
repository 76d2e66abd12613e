"""The resolver stage: routes each event to the NHIs it concerns.

Events naming an NHI go straight to it, and index the NHI under their task, credential and
owner keys. Events that may lack an NHI (task.ended, credential.revoked, owner.departed) are
routed through those indexes. They are also kept ("parked") under their key, so an NHI indexed
later - because its issuance arrived after the revocation, say - still receives them.

State is a mapping of key -> ``KeyState``. Keys are independent, which is what lets the
Kafka worker partition this stage by key (a repartition) with the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field

from contract.events import Event, EventType

PARKED_CAP = 8  # terminal events kept per key; a task ends once, a credential is revoked once


@dataclass(slots=True)
class KeyState:
    nhis: list[str] = field(default_factory=list)  # a list, so delivery order is deterministic
    parked: list[Event] = field(default_factory=list)


def index_keys(event: Event) -> Iterator[str]:
    """Keys under which an event that names its NHI indexes that NHI."""
    if event.task:
        yield "task:" + event.task
    if event.credential:
        yield "credential:" + event.credential
    if event.owner and event.type is not EventType.OWNER_DEPARTED:
        yield "owner:" + event.owner


def routing_key(event: Event) -> str | None:
    """The key through which an event reaches NHIs other than (or instead of) the one it names."""
    t = event.type
    if t is EventType.TASK_ENDED and event.task:
        return "task:" + event.task
    if t is EventType.CREDENTIAL_REVOKED and event.credential:
        return "credential:" + event.credential
    if t is EventType.OWNER_DEPARTED and event.owner:
        return "owner:" + event.owner
    if t is EventType.TASK_STARTED and event.task and not event.nhi:
        return "task:" + event.task
    return None


def on_index(ks: KeyState, nhi: str) -> list[Event]:
    """Index ``nhi`` under a key; returns the parked events it has not received yet."""
    if nhi in ks.nhis:
        return []
    ks.nhis.append(nhi)
    return list(ks.parked)


def on_routed(ks: KeyState, event: Event) -> list[str]:
    """Park a key-routed event and return the NHIs indexed under its key."""
    if all(p.id != event.id for p in ks.parked):
        ks.parked.append(event)
        if len(ks.parked) > PARKED_CAP:
            del ks.parked[0]
    return list(ks.nhis)


class Resolver:
    """The embedded composition of the per-key functions over one mapping."""

    def __init__(self, table: MutableMapping[str, KeyState] | None = None) -> None:
        self.table: MutableMapping[str, KeyState] = {} if table is None else table

    def _key(self, key: str) -> KeyState:
        ks = self.table.get(key)
        if ks is None:
            ks = self.table[key] = KeyState()
        return ks

    def resolve(self, event: Event) -> list[tuple[str, Event]]:
        out: list[tuple[str, Event]] = []
        nhi = event.nhi
        if nhi:
            out.append((nhi, event))
            for key in index_keys(event):
                out.extend((nhi, parked) for parked in on_index(self._key(key), nhi))
        rkey = routing_key(event)
        if rkey is not None:
            for target in on_routed(self._key(rkey), event):
                if target != nhi:
                    out.append((target, event))
        return out
