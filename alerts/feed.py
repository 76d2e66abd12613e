"""Turning finding changes into alerts, from any source: the engine (replay), Kafka, or the store.

``AlertMaker`` adds the NHI context, applies the suppression rules and the notification policy;
``StoreFeed`` reads the store's finding_history in chain order, with the events each change
cites, and can be polled for what landed since (``--follow``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from alerts.context import NhiContext, with_placement
from alerts.ocsf import Alert, change_uid
from alerts.policy import NotificationPolicy, State
from alerts.suppress import Suppressor
from contract.errors import StoreError
from contract.records import Finding
from store.alerts import SuppressionRecord, finding_changes, identities, record_suppressions
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
    # Called for every suppressed alert, e.g. to record it in the store.
    on_suppressed: Callable[[Alert], None] | None = None
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
            # a suppression rule applies to a finding as a whole, so it applied to its previous change too
            severity, status = previous
            before = State(
                severity, "resolved" if status == "resolved" else "suppressed" if suppression else "open"
            )
        notice = self.policy.decide(finding, suppression is not None, before)
        alert = Alert(
            finding, uid or change_uid(finding), ctx, suppression, seq, notice=notice, evidence=evidence
        )
        if alert.suppression is not None and self.on_suppressed is not None:
            self.on_suppressed(alert)
        return alert


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


def suppression_records(alerts: list[Alert]) -> list[SuppressionRecord]:
    return [
        SuppressionRecord(
            a.uid, a.finding.finding_id, a.suppression.rule_id, a.suppression.reason, a.suppression.expires
        )
        for a in alerts
        if a.suppression is not None
    ]


class StoreFeed:
    """Finding changes from a store file, oldest first, resumable from the last seq seen."""

    def __init__(
        self,
        path: str,
        suppressor: Suppressor,
        since: datetime | None = None,
        record: bool = True,
        policy: NotificationPolicy | None = None,
    ) -> None:
        self.path = path
        self.suppressor = suppressor
        self.since = since
        self.record = record and bool(suppressor)
        self.policy = policy or NotificationPolicy()
        self.last_seq = 0
        self.unrecorded = 0  # suppressions that could not be written (store locked or read-only)

    def poll(self) -> list[Alert]:
        """Every change stored since the last poll."""
        with Store.open(self.path, read_only=True) as store:
            alerts = list(self._read(store))
        if self.record:
            self._record(alerts)
        return alerts

    def _read(self, store: Store) -> Iterator[Alert]:
        while True:
            changes = finding_changes(store, self.last_seq, self.since)
            if not changes:
                return
            known = identities(store, {c.finding.nhi for c in changes})
            cache = {
                nhi: NhiContext(i.owner, i.owner_status, i.namespace, i.cluster, i.trust)
                for nhi, i in known.items()
            }
            maker = AlertMaker(self.suppressor, _dict_lookup(cache), policy=self.policy)
            events = evidence_events(store, {e for c in changes for e in c.finding.evidence})
            for c in changes:
                cited = tuple(events[e] for e in c.finding.evidence if e in events)
                yield maker.make(c.finding, c.history_id, c.seq, c.previous, cited)
                self.last_seq = c.seq

    def _record(self, alerts: list[Alert]) -> None:
        records = suppression_records(alerts)
        if not records:
            return
        try:
            with Store.open(self.path) as store:
                record_suppressions(store, records)
        except StoreError:
            # A running writer holds the file; the decision is still in every rendered record.
            self.unrecorded += len(records)
