"""Per-NHI state: the facts the detectors judge, built from the NHI's events in time order.

State is plain data passed into pure functions; the embedded engine keeps it in a dict, the
Kafka worker in a table with a changelog. ``apply_facts`` is the only writer of the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contract.events import Event, EventType
from contract.identity import (
    CREATED_BY,
    HUMAN,
    KIND_EVIDENCE,
    MACHINE,
    MANAGED_BY,
    OWNER_SOURCE,
    PRINCIPAL_KIND,
    SESSION_KIND,
    WORKLOAD,
)
from contract.records import Finding

DRIFT_IDENTITY_ATTRS = ("cluster", "namespace", "env", "region", "image")
DRIFT_CREDENTIAL_ATTRS = ("pod_uid", "node", "instance", "ip")

# Owner sources, strongest first: a weaker source never replaces an owner a stronger one named.
OWNER_STRENGTH = {"inventory": 4, "tag": 3, "label": 3, "annotation": 3, "log": 3, "creator": 1}
# Sources whose registrations count as an inventory covering their scope (native events are what
# inventory systems produce).
INVENTORY_SOURCES = frozenset({"native", "inventory"})
SEAT_MEMORY = 16  # addresses remembered per NHI for seat checks (the newest are kept)
ADDRESS_MEMORY = 8  # addresses remembered per credential


def owner_source_of(event: Event) -> str:
    """Where an identity.* event's owner comes from (``contract.identity.OWNER_SOURCE``)."""
    given = event.attrs.get(OWNER_SOURCE) if event.attrs else None
    if isinstance(given, str) and given in OWNER_STRENGTH:
        return given
    return "inventory" if event.source in INVENTORY_SOURCES else "log"


def is_inventory_registration(event: Event) -> bool:
    t = event.type
    return (t is EventType.IDENTITY_REGISTERED or t is EventType.IDENTITY_UPDATED) and (
        owner_source_of(event) == "inventory"
    )


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
    # Delivered by the platform to a workload (contract.identity.SESSION_KIND): the workload signals
    # of context-drift watch where such a credential is used from.
    workload: bool = False
    platform: str | None = None  # the client platform of its first use with a known one
    addresses: list[str] = field(default_factory=list)  # public addresses it was used from, oldest first


@dataclass(slots=True)
class Seat:
    """Another principal seen at an address (routed to this NHI by the resolver's seat key)."""

    nhi: str
    time: datetime
    user_agent: str | None
    event_id: str


@dataclass(slots=True)
class WorkloadUse:
    """This NHI's last use of a workload credential from an address."""

    time: datetime
    credential: str
    user_agent: str | None
    event_id: str
    task: str | None


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
    # What the evidence says the principal is: "machine" as soon as any record shows a machine,
    # else "human" once one shows a person, else None. kind -> (first evidence, its event id).
    kind: str | None = None
    kind_evidence: dict[str, tuple[str, str]] = field(default_factory=dict)
    managed_by: str | None = None  # a provider-managed identity: owned by the provider
    owner: str | None = None
    owner_source: str | None = None
    created_by: str | None = None  # the principal a log shows creating it
    owner_departed: bool = False
    owner_event: str | None = None  # evidence for the owner factor
    # An inventory registered an identity of this NHI's scope: never registered here means shadow.
    scope_inventoried: bool = False
    scope_event: str | None = None
    # Other principals seen at an address (seat checks): address -> the newest few, and this
    # NHI's last workload-credential use per address.
    seats: dict[str, list[Seat]] = field(default_factory=dict)
    workload_uses: dict[str, WorkloadUse] = field(default_factory=dict)
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

    @property
    def human(self) -> bool:
        """A person seen through an NHI-shaped log: kept, never judged as an unowned machine."""
        return self.kind == HUMAN

    @property
    def human_use(self) -> tuple[str, str] | None:
        """(evidence, event id) of a person using this machine identity (OWASP NHI10)."""
        return self.kind_evidence.get(HUMAN) if self.kind == MACHINE else None

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
    attrs = event.attrs
    kind_changed = bool(attrs) and _note_kind(event, st)

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
            if not cs.workload and attrs and attrs.get(SESSION_KIND) == WORKLOAD:
                cs.workload = True
        if kind_changed:
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
            cs.workload = cs.workload or (bool(event.attrs) and event.attrs.get(SESSION_KIND) == WORKLOAD)
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
        if st.created_by is None and event.attrs and isinstance(event.attrs.get(CREATED_BY), str):
            st.created_by = event.attrs[CREATED_BY]
        if not st.scope_inventoried and is_inventory_registration(event):
            st.scope_inventoried = True  # its own inventory record covers its scope too
        if event.owner is not None:
            _note_owner(event, st)
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


def _note_kind(event: Event, st: NhiState) -> bool:
    """Keep what this event shows the principal to be; True when the identity's kind changed."""
    attrs = event.attrs
    managed = attrs.get(MANAGED_BY)
    if isinstance(managed, str) and managed and st.managed_by is None:
        st.managed_by = managed
    kind = attrs.get(PRINCIPAL_KIND)
    if kind not in (HUMAN, MACHINE) or kind in st.kind_evidence:
        return False
    evidence = attrs.get(KIND_EVIDENCE)
    st.kind_evidence[kind] = (evidence if isinstance(evidence, str) and evidence else kind, event.id)
    before = st.kind
    st.kind = MACHINE if MACHINE in st.kind_evidence else HUMAN
    return True if before != st.kind else kind == HUMAN  # a person using a machine identity counts


def _note_owner(event: Event, st: NhiState) -> None:
    assert event.owner is not None
    source = owner_source_of(event)
    if st.owner is not None and OWNER_STRENGTH.get(source, 0) < OWNER_STRENGTH.get(st.owner_source or "", 0):
        return  # a weaker source (the creator, say) does not override an inventory's owner
    if event.owner == st.owner:
        st.owner_source = source
        st.owner_event = st.owner_event or event.id
        return
    st.owner, st.owner_source = event.owner, source
    departure = st.departed_owners.get(event.owner)
    st.owner_departed = departure is not None
    st.owner_event = departure or event.id


def remember(st: NhiState, event_id: str, window: int) -> bool:
    """Record an event id; False when it was already seen (re-delivery), so it is skipped."""
    if event_id in st.recent_ids:
        return False
    st.recent_ids[event_id] = None
    if len(st.recent_ids) > window:
        del st.recent_ids[next(iter(st.recent_ids))]
    return True
