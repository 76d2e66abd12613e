"""The per-NHI stage: one event into one NHI's state -> findings and a trust change.

A pure function of (nhi, event, state, settings); the embedded engine and the Kafka worker both
call it, which is why the two give the same findings on the same input.
"""

from __future__ import annotations

from contract.events import Event
from contract.records import Finding, TrustChange
from contract.settings import Settings
from streams.detectors import DETECTORS
from streams.state import NhiState, apply_facts, remember
from streams.trust import update_trust


def step(event: Event, st: NhiState, s: Settings) -> tuple[list[Finding], TrustChange | None]:
    if not remember(st, event.id, s.dedupe_window):
        return [], None
    apply_facts(event, st)
    findings: list[Finding] = []
    for detect in DETECTORS.values():
        findings.extend(detect(event, st, s))
    if findings:
        st.version += 1
        for f in findings:
            st.findings[f.finding_id] = f
    return findings, update_trust(st, s, event.time, event.id)
