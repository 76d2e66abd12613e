"""The per-NHI stage: one event into one NHI's state -> findings and a trust change.

A pure function of (nhi, event, state, settings); the embedded engine and the Kafka worker both
call it, which is why the two give the same findings on the same input.

Most events are the NHI's own. Two kinds name another identity and reach this one through the
resolver (``streams/resolver.py``): an inventory registration of another identity in the same scope
(this scope is covered by an inventory), and another principal's use of an address this NHI's
workload credentials are used from (a seat). Those are observations: they change what this NHI
knows about its surroundings, never its own facts.
"""

from __future__ import annotations

from contract.events import Event, EventType
from contract.records import Finding, TrustChange
from contract.settings import Settings
from streams.detectors import DETECTORS, observe
from streams.state import NhiState, apply_facts, remember
from streams.trust import update_trust


def step(event: Event, st: NhiState, s: Settings) -> tuple[list[Finding], TrustChange | None]:
    if not remember(st, event.id, s.dedupe_window):
        return [], None
    if event.nhi is not None and event.nhi != st.nhi and _observation(event):
        findings = observe(event, st, s)
    else:
        apply_facts(event, st)
        findings = []
        if not st.human and st.managed_by is None:
            # People and provider-managed identities are kept and scored, not judged.
            for detect in DETECTORS.values():
                findings.extend(detect(event, st, s))
    if findings:
        st.version += 1
        for f in findings:
            st.findings[f.finding_id] = f
    return findings, update_trust(st, s, event.time, event.id)


def _observation(event: Event) -> bool:
    t = event.type
    return (
        t is EventType.CREDENTIAL_USED
        or t is EventType.IDENTITY_REGISTERED
        or t is EventType.IDENTITY_UPDATED
    )
