"""The resolver stage: routes each event to the NHIs it concerns.

Events naming an NHI go straight to it, and index the NHI under their task, credential and
owner keys. Events that may lack an NHI (task.ended, credential.revoked, owner.departed) are
routed through those indexes. They are also kept ("parked") under their key, so an NHI indexed
later - because its issuance arrived after the revocation, say - still receives them.

Two keys carry observations between identities (``streams/correlate.py``):

- ``scope:<scope>``: every NHI is indexed under its scope; the earliest inventory registration in
  a scope (by event time, then id) is routed to all of them, and parked for the ones that come
  later. Any other registration is not routed: one is all an NHI needs to know. Choosing the
  earliest, not the first to arrive, keeps the choice the same on replay and on Kafka.
- ``seat:<address>``: NHIs whose workload credentials are used from an address are indexed under
  it; uses of that address by other principals (people, long-lived keys, assumed sessions) are
  routed to them, and the newest ``SEAT_PARKED`` (by event time) are parked for NHIs indexed later.

State is a mapping of key -> ``KeyState``. Keys are independent, which is what lets the
Kafka worker partition this stage by key (a repartition) with the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache

from contract.events import Event, EventType
from contract.identity import PRINCIPAL_KIND, SESSION_KIND, WORKLOAD, scope_of
from streams.state import is_inventory_registration

PARKED_CAP = 8  # terminal events kept per key; a task ends once, a credential is revoked once
SCOPE, SEAT = "scope:", "seat:"
SEAT_PARKED = 16  # other principals' uses of an address kept for workloads indexed there later
# Whose use of an address is someone else's seat for a workload credential used there.
_SEAT_SESSIONS = frozenset({"person", "key", "assumed"})


@dataclass(slots=True)
class KeyState:
    # NHIs indexed under the key, in indexing order (a dict: ordered, with O(1) membership)
    nhis: dict[str, None] = field(default_factory=dict)
    parked: list[Event] = field(default_factory=list)
    latched: bool = False  # a scope key after its first inventory registration


@lru_cache(maxsize=65536)
def scope_key(nhi: str) -> str:
    return SCOPE + scope_of(nhi)


def workload_address(event: Event) -> str | None:
    """The address a workload credential is used from, for seat checks."""
    if event.type is not EventType.CREDENTIAL_USED or not event.attrs:
        return None
    if event.attrs.get(SESSION_KIND) != WORKLOAD:
        return None
    return event.context.ip


def _seat_visitor(event: Event) -> str | None:
    """The address of a use by a principal that is not a workload (a seat others may share)."""
    if event.type is not EventType.CREDENTIAL_USED or not event.attrs or event.context.ip is None:
        return None
    attrs = event.attrs
    if attrs.get(SESSION_KIND) in _SEAT_SESSIONS or attrs.get(PRINCIPAL_KIND) == "human":
        return event.context.ip
    return None


def index_keys(event: Event) -> Iterator[str]:
    """Keys under which an event that names its NHI indexes that NHI."""
    if event.task:
        yield "task:" + event.task
    if event.credential:
        yield "credential:" + event.credential
    if event.owner and event.type is not EventType.OWNER_DEPARTED:
        yield "owner:" + event.owner
    if event.nhi:
        yield scope_key(event.nhi)
    address = workload_address(event)
    if address is not None:
        yield SEAT + address


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
    if t is EventType.CREDENTIAL_USED:
        address = _seat_visitor(event)
        return SEAT + address if address is not None else None
    if event.nhi and is_inventory_registration(event):
        return scope_key(event.nhi)
    return None


def on_index(ks: KeyState, nhi: str) -> list[Event]:
    """Index ``nhi`` under a key; returns the parked events it has not received yet."""
    if nhi in ks.nhis:
        return []
    ks.nhis[nhi] = None
    return list(ks.parked)


def on_routed(ks: KeyState, event: Event, key: str) -> list[str]:
    """Park a key-routed event and return the NHIs it goes to now."""
    if key.startswith(SCOPE):
        if ks.latched and ks.parked and ks.parked[0].sort_key() <= event.sort_key():
            return []
        ks.latched = True
        ks.parked = [event]
        return list(ks.nhis)
    if key.startswith(SEAT):
        if all(p.id != event.id for p in ks.parked):
            ks.parked.append(event)
            ks.parked.sort(key=Event.sort_key)
            del ks.parked[:-SEAT_PARKED]
        return list(ks.nhis)
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
            for target in on_routed(self._key(rkey), event, rkey):
                if target != nhi:
                    out.append((target, event))
        return out
