"""The registry of detectors: one dict. Each is ``(event, state, settings) -> findings``."""

from __future__ import annotations

from collections.abc import Callable

from ingest.events import Event
from streams.detectors import drift, token_outlived, unowned
from streams.records import Finding
from streams.settings import Settings
from streams.state import NhiState

Detector = Callable[[Event, NhiState, Settings], list[Finding]]

DETECTORS: dict[str, Detector] = {
    token_outlived.DETECTOR: token_outlived.detect,
    unowned.DETECTOR: unowned.detect,
    drift.DETECTOR: drift.detect,
}
