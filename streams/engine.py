"""The embedded engine: resolver -> reorder buffer -> per-NHI step, over in-memory state.

No I/O: callers feed events and receive findings, trust changes and entity snapshots. The
Kafka worker runs the same stages with state in tables; ``EngineState`` is what the embedded
pipeline saves between runs so a later replay continues the same history.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contract.events import Event
from contract.records import CredentialRow, Finding, IdentityRow, Snapshots, TaskRow, TrustChange
from contract.settings import Settings
from streams.correlate import step
from streams.reorder import ReorderBuffer
from streams.resolver import KeyState, Resolver, scope_key
from streams.state import CredentialState, NhiState, TaskState

# 2: identity kind, owner source, scope and seat observations (see streams/stages.py).
# 3: the reorder buffer and the checkpoint time are saved too.
STATE_FORMAT = 3


@dataclass(slots=True)
class Output:
    findings: list[Finding] = field(default_factory=list)
    trust: list[TrustChange] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.findings.extend(other.findings)
        self.trust.extend(other.trust)


@dataclass(slots=True)
class EngineState:
    keys: dict[str, KeyState] = field(default_factory=dict)
    nhis: dict[str, NhiState] = field(default_factory=dict)
    # Events resolved but still held for ordering: saved with the rest, so a run that stops
    # between two files resumes with them (the store already holds them as events).
    buffer: ReorderBuffer | None = None
    # When this state was saved (the ingestion time of the batch it was written with): stored
    # events ingested at or before it have been judged; later ones were stored but not judged.
    saved_at: datetime | None = None

    def dumps(self) -> bytes:
        # Our own state, written and read by this program only; never loaded from user input.
        return pickle.dumps((STATE_FORMAT, self), protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(blob: bytes) -> EngineState:
        version, state = pickle.loads(blob)
        if version not in (2, STATE_FORMAT) or not isinstance(state, EngineState):
            raise ValueError(f"engine state format {version} is not {STATE_FORMAT}")
        if version == 2:  # saved before the buffer and the checkpoint time were part of it
            state.buffer = None
            state.saved_at = None
        return state


class Engine:
    def __init__(self, settings: Settings, state: EngineState | None = None) -> None:
        self.settings = settings
        self.state = state or EngineState()
        self.resolver = Resolver(self.state.keys)
        buffer = self.state.buffer
        if buffer is None:
            buffer = self.state.buffer = ReorderBuffer(settings.reorder_window)
        buffer.window = settings.reorder_window  # this run's setting, not the saved one
        self.buffer = buffer
        self.events_in = 0
        self._dirty: set[str] = set()
        self._dirty_creds: set[tuple[str, str]] = set()
        self._dirty_tasks: set[tuple[str, str]] = set()

    def process(self, event: Event) -> Output:
        """Feed one event; returns what the events now past the reorder window produced."""
        self.events_in += 1
        push = self.buffer.push
        for nhi, routed in self.resolver.resolve(event):
            push(nhi, routed)
        return self._run(self.buffer.ready())

    def process_batch(self, events: Iterable[Event]) -> Output:
        """Feed many events, then release once: the same judgements as ``process`` one by one
        (release order is the buffer's total order), with the per-event overhead paid once."""
        push = self.buffer.push
        resolve = self.resolver.resolve
        count = 0
        for event in events:
            count += 1
            for nhi, routed in resolve(event):
                push(nhi, routed)
        self.events_in += count
        return self._run(self.buffer.ready())

    def flush(self) -> Output:
        """End of input: release and judge everything still held for ordering."""
        return self._run(self.buffer.drain())

    def _run(self, items: Iterable[tuple[str, Event]]) -> Output:
        out = Output()
        nhis = self.state.nhis
        s = self.settings
        for nhi, event in items:
            st = nhis.get(nhi)
            if st is None:
                st = nhis[nhi] = NhiState(nhi)
            findings, trust = step(event, st, s)
            if findings:
                out.findings.extend(findings)
            if trust is not None:
                out.trust.append(trust)
            self._dirty.add(nhi)
            if event.credential:
                self._dirty_creds.add((nhi, event.credential))
            if event.task:
                self._dirty_tasks.add((nhi, event.task))
        return out

    @property
    def pending(self) -> int:
        return len(self.buffer)

    def drain_snapshots(self) -> Snapshots:
        """The latest rows of every identity, credential and task touched since the last call."""
        snaps = Snapshots()
        nhis = self.state.nhis
        for nhi in self._dirty:
            if nhis[nhi].first_seen is not None:  # observations alone make no identity row yet
                snaps.identities.append(identity_row(nhis[nhi]))
        for nhi, cred in self._dirty_creds:
            cs = nhis[nhi].credentials.get(cred)
            if cs is not None:
                snaps.credentials.append(credential_row(nhi, cs))
        for nhi, task in self._dirty_tasks:
            ts = nhis[nhi].tasks.get(task)
            if ts is not None:
                snaps.tasks.append(task_row(nhi, ts))
        self._dirty.clear()
        self._dirty_creds.clear()
        self._dirty_tasks.clear()
        return snaps


def identity_row(st: NhiState) -> IdentityRow:
    assert st.first_seen is not None and st.last_seen is not None
    if st.human:
        owner_status = "human"
    elif st.owner is None:
        owner_status = "managed" if st.managed_by is not None else "none"
    else:
        owner_status = "departed" if st.owner_departed else "active"
    evidence = st.kind_evidence.get(st.kind) if st.kind else None
    human_use = st.human_use
    status = "deleted" if st.deleted else ("registered" if st.registered else "unregistered")
    return IdentityRow(
        nhi=st.nhi,
        owner=st.owner,
        owner_status=owner_status,
        status=status,
        purpose=st.purpose,
        first_seen=st.first_seen,
        last_seen=st.last_seen,
        event_count=st.event_count,
        trust=st.trust if st.trust is not None else 100,
        open_findings=sum(1 for f in st.findings.values() if f.status == "open"),
        kind=st.kind,
        kind_evidence=evidence[0] if evidence else None,
        human_use=human_use[0] if human_use else None,
        owner_source=st.owner_source if st.owner is not None else None,
        managed_by=st.managed_by,
        scope=scope_key(st.nhi)[len("scope:") :],
        scope_inventoried=st.scope_inventoried,
    )


def credential_row(nhi: str, cs: CredentialState) -> CredentialRow:
    return CredentialRow(
        cs.credential,
        nhi,
        cs.method,
        cs.task,
        cs.attested,
        cs.issued_at,
        cs.expires_at,
        cs.revoked_at,
        cs.first_used,
        cs.last_used,
        cs.use_count,
    )


def task_row(nhi: str, ts: TaskState) -> TaskRow:
    return TaskRow(ts.task, nhi, ts.started_at, ts.ended_at)
