"""What ``generate`` returns, and how a run's findings are scored against it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Detector ids are part of the interface with the engine: ground truth names them verbatim.
TOKEN_OUTLIVED_TASK = "token-outlived-task"
UNOWNED_ACTOR = "unowned-actor"
CONTEXT_DRIFT = "context-drift"
DETECTORS = (TOKEN_OUTLIVED_TASK, UNOWNED_ACTOR, CONTEXT_DRIFT)


@dataclass(frozen=True, slots=True)
class Expected:
    """A finding the engine must raise: ``key`` is the engine's finding key for that cause."""

    detector: str
    nhi: str
    key: str
    description: str


@dataclass(frozen=True, slots=True)
class Benign:
    """A deliberate look-alike that must raise nothing."""

    kind: str
    nhi: str
    description: str


@dataclass(slots=True)
class SyntheticOrg:
    records: list[dict[str, Any]]  # native contract v1 records, in delivery order
    truth: list[Expected]
    benign: list[Benign]
    summary: dict[str, int]
    # The organisation's own networks (CIDRs): runs pass them as NHI_OWN_NETWORKS so workload
    # credentials used outside every network are judged.
    networks: str = ""


@dataclass(frozen=True, slots=True)
class Scorecard:
    per_detector: dict[str, tuple[int, int, int]]  # detector -> (tp, fp, fn)
    recall: float
    precision: float


def score(found: Iterable[tuple[str, str]], truth: Iterable[Expected]) -> Scorecard:
    """Compare ``(detector, nhi)`` pairs found by a run with the ground truth.

    Scoring is per (detector, nhi), not per key: an NHI with two drifted attributes is one
    incident to a responder. Duplicate pairs count once. A detector the truth does not cover
    counts its findings as false positives; filter first if that is not wanted. With nothing
    to find (or nothing found) recall (or precision) is 1.0: no miss (or no false alarm).
    """
    expected = {(e.detector, e.nhi) for e in truth}
    got = set(found)
    per: dict[str, tuple[int, int, int]] = {}
    for det in sorted(set(DETECTORS) | {d for d, _ in expected} | {d for d, _ in got}):
        exp = {p for p in expected if p[0] == det}
        hit = {p for p in got if p[0] == det}
        per[det] = (len(exp & hit), len(hit - exp), len(exp - hit))
    tp = sum(v[0] for v in per.values())
    fp = sum(v[1] for v in per.values())
    fn = sum(v[2] for v in per.values())
    return Scorecard(
        per_detector=per,
        recall=tp / (tp + fn) if tp + fn else 1.0,
        precision=tp / (tp + fp) if tp + fp else 1.0,
    )
