"""Finding lifecycle shared by the detectors: open, update (same cause again), resolve.

Detectors never mutate findings; they return new versions and the engine stores them, so a
detector's effect is exactly the list it returns.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contract.changes import finding_id
from contract.events import Event
from contract.records import SEVERITY_RANK, Finding, Severity
from streams.state import NhiState


def cap_evidence(evidence: list[str], new_id: str, cap: int) -> list[str]:
    """Append an evidence id; keep the first (the cause) and the newest when over the cap."""
    if new_id in evidence:
        return evidence
    out = [*evidence, new_id]
    if len(out) > cap:
        out = [out[0], *out[len(out) - cap + 1 :]]
    return out


def raise_finding(
    st: NhiState,
    event: Event,
    *,
    detector: str,
    key: str,
    severity: Severity,
    reason: str,
    summary: str,
    cap: int,
    credential: str | None = None,
    task: str | None = None,
    details: dict[str, Any] | None = None,
    extra_evidence: tuple[str, ...] = (),
) -> Finding | None:
    """A new finding, or an update of the open one with the same cause; None if nothing changed."""
    fid = finding_id(detector, st.nhi, key)
    current = st.findings.get(fid)
    if current is None:
        evidence: list[str] = []
        for eid in (*extra_evidence, event.id):
            evidence = cap_evidence(evidence, eid, cap)
        return Finding(
            finding_id=fid,
            detector=detector,
            severity=severity,
            status="open",
            nhi=st.nhi,
            credential=credential,
            task=task,
            reason=reason,
            summary=summary,
            first_seen=event.time,
            last_seen=event.time,
            evidence=evidence,
            activity="create",
            details=details or {},
        )
    if current.status == "open" and event.id in current.evidence:
        return None
    top = severity if SEVERITY_RANK[severity] > SEVERITY_RANK[current.severity] else current.severity
    return replace(
        current,
        status="open",
        severity=top,
        summary=summary,
        first_seen=min(current.first_seen, event.time),
        last_seen=max(current.last_seen, event.time),
        evidence=cap_evidence(current.evidence, event.id, cap),
        activity="update",
        resolved_at=None,
        details={**current.details, **(details or {})},
    )


def resolve_finding(st: NhiState, fid: str, event: Event, note: str, cap: int) -> Finding | None:
    """Close an open finding because its cause went away; None if it wasn't open."""
    current = st.findings.get(fid)
    if current is None or current.status != "open":
        return None
    return replace(
        current,
        status="resolved",
        activity="close",
        resolved_at=event.time,
        last_seen=max(current.last_seen, event.time),
        evidence=cap_evidence(current.evidence, event.id, cap),
        details={**current.details, "resolution": note},
    )


def human_duration(seconds: float) -> str:
    total = round(seconds)
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 120:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"
