"""unowned-actor: an NHI issuing or using a credential with nobody accountable for it.

Reasons: no-owner (never registered, or registered without an owner; medium), owner-departed
(high), identity-deleted (high). One open finding per NHI and reason; all resolve when an
active owner is registered.
"""

from __future__ import annotations

from contract.changes import finding_id
from contract.events import Event, EventType
from contract.records import Finding, Severity
from contract.settings import Settings
from streams.detectors.common import raise_finding, resolve_finding
from streams.state import NhiState

DETECTOR = "unowned-actor"
REASONS: dict[str, Severity] = {"no-owner": "medium", "owner-departed": "high", "identity-deleted": "high"}


def detect(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    t = event.type
    if t is EventType.CREDENTIAL_ISSUED or t is EventType.CREDENTIAL_USED:
        if st.human:
            return []  # people have their own lifecycle processes; this detector is about machines
        reason, why = _reason(st)
        if reason is None:
            return []
        verb = "issued" if t is EventType.CREDENTIAL_ISSUED else "used"
        f = raise_finding(
            st,
            event,
            detector=DETECTOR,
            key=reason,
            severity=REASONS[reason],
            reason=reason,
            summary=f"{st.nhi} {verb} credential {event.credential or '(unknown)'} while {why}",
            cap=s.evidence_cap,
            credential=event.credential,
            task=event.task,
            details={"owner": st.owner},
            extra_evidence=tuple(e for e in (st.owner_event,) if e and reason != "no-owner"),
        )
        return [f] if f else []
    if (t is EventType.IDENTITY_REGISTERED or t is EventType.IDENTITY_UPDATED) and st.owner_active:
        out = []
        for reason in REASONS:
            done = resolve_finding(
                st,
                finding_id(DETECTOR, st.nhi, reason),
                event,
                f"active owner {st.owner} registered",
                s.evidence_cap,
            )
            if done:
                out.append(done)
        return out
    return []


def _reason(st: NhiState) -> tuple[str | None, str]:
    if st.deleted:
        return "identity-deleted", "the identity is deleted"
    if st.owner is not None and st.owner_departed:
        return "owner-departed", f"its owner {st.owner} has departed"
    if not st.registered:
        return "no-owner", "it was never registered"
    if st.owner is None:
        return "no-owner", "it has no registered owner"
    return None, ""
