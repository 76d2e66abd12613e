"""Per-NHI state: the facts the detectors judge, built from the NHI's events in time order.

State is plain data passed into pure functions; the embedded engine keeps it in a dict, the
Kafka worker in a table with a changelog. ``apply_facts`` is the only writer of the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contract.events import Event, EventType
from contract.records import Finding

DRIFT_IDENTITY_ATTRS = ("cluster", "namespace", "env", "region", "image")
DRIFT_CREDENTIAL_ATTRS = ("pod_uid", "node", "instance", "ip")


@dataclass(slots=True)
class CredentialState:
    credential: str
    issued_at: datetime | None = None
    issued_event: str | None = None
    expires_at: datetime | None = None
    method: str | None = None
    attested: bool = False
    task: str | None = None
    revoked_at: datetime | None = None
    # the issuer invalidates it when its task ends (e.g. a Kubernetes pod-bound token)
    invalidated_with_task: bool = False
    # context attributes at issuance: a use elsewhere means the credential was copied
    issue_context: dict[str, str] = field(default_factory=dict)
    first_used: datetime | None = None
    last_used: datetime | None = None
    use_count: int = 0


@dataclass(slots=True)
class TaskState:
    task: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    ended_event: str | None = None


@dataclass(slots=True)
class NhiState:
    nhi: str
    registered: bool = False
    deleted: bool = False
    human: bool = False  # a person seen through an NHI-shaped log; never judged as unowned
    owner: str | None = None
    owner_departed: bool = False
    owner_event: str | None = None  # evidence for the owner factor
    # owners known to have left; an owner assigned after leaving is departed from the start
    departed_owners: dict[str, str] = field(default_factory=dict)  # owner -> departure event id
    purpose: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    event_count: int = 0
    credentials: dict[str, CredentialState] = field(default_factory=dict)
    # issued, not revoked, and not known to be expired: what the trust score looks at
    live: dict[str, CredentialState] = field(default_factory=dict)
    last_issued: CredentialState | None = None
    # the identity-level context last judged by context-drift, to skip repeats cheaply
    last_context: tuple[str | None, ...] | None = None
    tasks: dict[str, TaskState] = field(default_factory=dict)
    # context-drift baseline: attribute -> values seen in trusted (or learning) events
    baseline: dict[str, set[str]] = field(default_factory=dict)
    baseline_seeded: bool = False
    drifted: dict[str, str] = field(default_factory=dict)  # "attr=value" -> first evidence id
    findings: dict[str, Finding] = field(default_factory=dict)  # finding_id -> latest
    recent_ids: dict[str, None] = field(default_factory=dict)  # insertion-ordered, bounded
    trust: int | None = None
    trust_key: tuple[object, ...] | None = None  # None: never scored, so the first score is a change
    # The trust score is recomputed only when its inputs may have changed: ``version`` counts
    # changes to them, ``trust_valid_until`` is when the next credential expiry changes liveness.
    version: int = 0
    trust_version: int = -1
    trust_valid_until: datetime | None = None

    @property
    def owner_active(self) -> bool:
        return self.owner is not None and not self.owner_departed and not self.deleted

    def credential(self, cred: str) -> CredentialState:
        state = self.credentials.get(cred)
        if state is None:
            state = self.credentials[cred] = CredentialState(cred)
        return state

    def task(self, task: str) -> TaskState:
        state = self.tasks.get(task)
        if state is None:
            state = self.tasks[task] = TaskState(task)
        return state


def apply_facts(event: Event, st: NhiState) -> None:
    """Fold one event into the NHI's facts (owner, lifecycle, credentials, tasks)."""
    t = event.type
    st.event_count += 1
    if st.first_seen is None or event.time < st.first_seen:
        st.first_seen = event.time
    if st.last_seen is None or event.time > st.last_seen:
        st.last_seen = event.time
    attrs_human = bool(event.attrs) and event.attrs.get("principal_kind") == "human" and not st.human
    if attrs_human:
        st.human = True

    if t is EventType.CREDENTIAL_USED:
        if event.credential:
            if event.credential not in st.credentials:
                st.version += 1
            cs = st.credential(event.credential)
            cs.use_count += 1
            if cs.first_used is None:
                cs.first_used = event.time
            cs.last_used = event.time
            if cs.task is None and event.task:
                cs.task = event.task  # a bound credential names its task on use
        if attrs_human:
            st.version += 1
        return
    if t is not EventType.TASK_STARTED and t is not EventType.TASK_ENDED:
        st.version += 1  # tasks feed the trust score only through the findings they cause
    if t is EventType.CREDENTIAL_ISSUED:
        if event.credential:
            cs = st.credential(event.credential)
            cs.issued_at = event.time
            cs.issued_event = event.id
            cs.expires_at = event.expires_at
            cs.method = event.method
            cs.attested = event.attested
            cs.invalidated_with_task = bool(event.attrs) and event.attrs.get("invalidated_with_task") is True
            if cs.revoked_at is None:
                st.live[cs.credential] = cs
            st.last_issued = cs
            if event.task:
                cs.task = event.task
            ctx = event.context
            cs.issue_context = {a: v for a in DRIFT_CREDENTIAL_ATTRS if (v := getattr(ctx, a)) is not None}
        if event.task:
            st.task(event.task)
    elif t is EventType.CREDENTIAL_REVOKED:
        if event.credential:
            cs = st.credential(event.credential)
            if cs.revoked_at is None or event.time < cs.revoked_at:
                cs.revoked_at = event.time
            st.live.pop(event.credential, None)
    elif t is EventType.TASK_STARTED:
        if event.task:
            ts = st.task(event.task)
            ts.started_at = event.time
    elif t is EventType.TASK_ENDED:
        if event.task:
            ts = st.task(event.task)
            if ts.ended_at is None:
                ts.ended_at = event.time
                ts.ended_event = event.id
    elif t is EventType.IDENTITY_REGISTERED or t is EventType.IDENTITY_UPDATED:
        st.registered = True
        st.deleted = False
        if event.owner is not None and event.owner != st.owner:
            st.owner = event.owner
            departure = st.departed_owners.get(event.owner)
            st.owner_departed = departure is not None
            st.owner_event = departure or event.id
        elif event.owner is not None:
            st.owner_event = st.owner_event or event.id
        if event.purpose is not None:
            st.purpose = event.purpose
    elif t is EventType.IDENTITY_DELETED:
        st.deleted = True
    elif t is EventType.OWNER_DEPARTED:
        # The resolver routes by the owner index, which may be stale; only the current owner counts,
        # but the departure is remembered in case this owner is assigned again.
        if event.owner is not None:
            st.departed_owners.setdefault(event.owner, event.id)
        if event.owner is not None and event.owner == st.owner:
            st.owner_departed = True
            st.owner_event = event.id


def remember(st: NhiState, event_id: str, window: int) -> bool:
    """Record an event id; False when it was already seen (re-delivery), so it is skipped."""
    if event_id in st.recent_ids:
        return False
    st.recent_ids[event_id] = None
    if len(st.recent_ids) > window:
        del st.recent_ids[next(iter(st.recent_ids))]
    return True
