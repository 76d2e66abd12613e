"""The registry of detectors: one dict. Each is ``(event, state, settings) -> findings``."""

from __future__ import annotations

from collections.abc import Callable

from contract.events import Event
from contract.records import Finding
from contract.settings import Settings
from streams.detectors import drift, token_outlived, unowned
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
