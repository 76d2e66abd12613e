"""The registry of detectors: one dict. Each is ``(event, state, settings) -> findings``."""

from __future__ import annotations

from collections.abc import Callable

from contract.events import Event, EventType
from contract.records import Finding
from contract.settings import Settings
from streams.detectors import drift, token_outlived, unowned, workload
from streams.state import NhiState

Detector = Callable[[Event, NhiState, Settings], list[Finding]]

DETECTORS: dict[str, Detector] = {
    token_outlived.DETECTOR: token_outlived.detect,
    unowned.DETECTOR: unowned.detect,
    drift.DETECTOR: drift.detect,
}

# The reasons each detector declares (unowned-actor's map them to their severity). Runbooks and
# their test are keyed by these, so a new reason without a runbook fails the suite.
REASONS: dict[str, tuple[str, ...]] = {
    token_outlived.DETECTOR: token_outlived.REASONS,
    unowned.DETECTOR: tuple(unowned.REASONS),
    drift.DETECTOR: drift.REASONS,
}


def observe(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    """An event about another identity that reached this NHI through the resolver (see
    ``streams/correlate.py``): a seat of another principal, or an inventory covering the scope."""
    if st.human or st.managed_by is not None:
        if event.type is not EventType.CREDENTIAL_USED:
            unowned.scope_covered(event, st, s)  # still known for the trust score and the queries
        return []
    if event.type is EventType.CREDENTIAL_USED:
        return workload.seat_observed(event, st, s)
    return unowned.scope_covered(event, st, s)
