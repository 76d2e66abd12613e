"""Turning finding changes into alerts, from any source: the engine (replay), Kafka, or the store.

``AlertMaker`` adds the NHI context, applies the suppressions and the notification policy;
``StoreFeed`` reads the store's finding_history in chain order, with the events each change
cites, and can be polled for what landed since (``--follow``). Reading alerts never writes: the
suppressions recorded in the store (``nhi suppress add``) are applied as they stand, and a rules
file only changes what is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.context import NhiContext, with_placement
from alerts.ocsf import Alert, change_uid
from alerts.policy import NotificationPolicy, State
from alerts.suppress import Suppression, Suppressor
from contract.records import Finding
from contract.suppressions import in_force
from store import suppressions
from store.alerts import finding_changes, identities
from store.evidence import EvidenceEvent, evidence_events
from store.store import Store
from streams.state import NhiState

ContextLookup = Callable[[str], NhiContext]


def no_context(nhi: str) -> NhiContext:
    return NhiContext()


@dataclass(slots=True)
class AlertMaker:
    suppressor: Suppressor = field(default_factory=Suppressor)
    lookup: ContextLookup = no_context
    policy: NotificationPolicy = field(default_factory=NotificationPolicy)

    def make(
        self,
        finding: Finding,
        uid: str | None = None,
        seq: int | None = None,
        previous: tuple[str, str] | None = None,
        evidence: tuple[EvidenceEvent, ...] = (),
    ) -> Alert:
        """``previous``: (severity, status) of the finding's change before this one, when known."""
        ctx = with_placement(finding.nhi, self.lookup(finding.nhi))
        if ctx.owner is None and isinstance(finding.details.get("owner"), str):
            ctx = NhiContext(
                str(finding.details["owner"]), ctx.owner_status, ctx.namespace, ctx.cluster, ctx.trust
            )
        suppression = self.suppressor.check(finding, ctx)
        before = None
        if previous is not None:
            # a suppression applies to a finding as a whole, so it applied to its previous change too
            severity, status = previous
            before = State(
                severity, "resolved" if status == "resolved" else "suppressed" if suppression else "open"
            )
        notice = self.policy.decide(finding, suppression is not None, before)
        return Alert(
            finding, uid or change_uid(finding), ctx, suppression, seq, notice=notice, evidence=evidence
        )


def engine_lookup(states: Callable[[str], NhiState | None]) -> ContextLookup:
    """Context from the engine's per-NHI state (the replay path): owner, trust, baseline placement."""

    def lookup(nhi: str) -> NhiContext:
        st = states(nhi)
        if st is None:
            return NhiContext()
        status = "departed" if st.owner_departed else ("active" if st.owner else "none")

        def only(attr: str) -> str | None:
            values = st.baseline.get(attr, set())
            return next(iter(values)) if len(values) == 1 else None

        return NhiContext(st.owner, status, only("namespace"), only("cluster"), st.trust)

    return lookup


def _dict_lookup(known: dict[str, NhiContext]) -> ContextLookup:
    def lookup(nhi: str) -> NhiContext:
        return known.get(nhi, NhiContext())

    return lookup


def recorded_suppressions(store: Store, at: datetime) -> dict[str, Suppression]:
    """The suppressions recorded in ``store`` and in force at ``at``, by finding id."""
    return {fid: Suppression.recorded(row) for fid, row in in_force(suppressions.rows(store), at).items()}


class StoreFeed:
    """Finding changes from a store file, oldest first, resumable from the last seq seen."""

    def __init__(
        self,
        path: str,
        suppressor: Suppressor,
        since: datetime | None = None,
        suppressions_at: datetime | None = None,
        policy: NotificationPolicy | None = None,
    ) -> None:
        self.path = path
        self.suppressor = suppressor
        self.since = since
        # Recorded suppressions are applied as they stood at this time (an evidence package's
        # cut-off), or at each poll's wall-clock time when None.
        self.suppressions_at = suppressions_at
        self.policy = policy or NotificationPolicy()
        self.last_seq = 0

    def poll(self) -> list[Alert]:
        """Every change stored since the last poll. Read-only: nothing is written."""
        with Store.open(self.path, read_only=True) as store:
            at = self.suppressions_at or datetime.now(UTC)
            suppressor = self.suppressor.with_recorded(recorded_suppressions(store, at))
            return list(self._read(store, suppressor))

    def _read(self, store: Store, suppressor: Suppressor) -> Iterator[Alert]:
        while True:
            changes = finding_changes(store, self.last_seq, self.since)
            if not changes:
                return
            known = identities(store, {c.finding.nhi for c in changes})
            cache = {
                nhi: NhiContext(i.owner, i.owner_status, i.namespace, i.cluster, i.trust)
                for nhi, i in known.items()
            }
            maker = AlertMaker(suppressor, _dict_lookup(cache), policy=self.policy)
            events = evidence_events(store, {e for c in changes for e in c.finding.evidence})
            for c in changes:
                cited = tuple(events[e] for e in c.finding.evidence if e in events)
                yield maker.make(c.finding, c.history_id, c.seq, c.previous, cited)
                self.last_seq = c.seq
