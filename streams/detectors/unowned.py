"""unowned-actor: an NHI issuing or using a credential with nobody accountable for it.

Where an owner comes from, strongest first: the inventory, owner tags / labels / annotations seen
in logs, the identity's creator (a weaker owner: the trust score says so). Provider-managed
identities and people are never judged here.

Reasons and severities:
- ``owner-departed`` (high): its owner has left;
- ``identity-deleted`` (high): deleted, yet active;
- ``never-registered`` (medium): a shadow NHI - never registered although an inventory covers its
  scope. With no inventory for its scope there is no finding: the identity is counted by the
  ``coverage`` and ``unowned-identities`` queries and by the trust score's owner factor;
- ``no-owner`` (medium): registered without an owner.

One open finding per NHI and reason; all resolve when an active owner is registered.
"""

from __future__ import annotations

from contract.changes import finding_id
from contract.events import Event, EventType
from contract.identity import scope_of
from contract.records import Finding, Severity
from contract.settings import Settings
from streams.detectors.common import raise_finding, resolve_finding
from streams.state import NhiState, is_inventory_registration

DETECTOR = "unowned-actor"
REASONS: dict[str, Severity] = {
    "no-owner": "medium",
    "never-registered": "medium",
    "owner-departed": "high",
    "identity-deleted": "high",
}


def detect(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    t = event.type
    if t is EventType.CREDENTIAL_ISSUED or t is EventType.CREDENTIAL_USED:
        verb = "issued" if t is EventType.CREDENTIAL_ISSUED else "used"
        return _judge(event, st, s, f"{verb} credential {event.credential or '(unknown)'}")
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


def scope_covered(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    """Another identity of this scope was registered by an inventory: this one, active and never
    registered, is a shadow NHI from now on."""
    if not is_inventory_registration(event) or st.scope_inventoried:
        return []  # the resolver routes only earlier registrations after the first, so the
        # first applied here is the scope's earliest once events are applied in time order
    st.scope_inventoried, st.scope_event = True, event.id
    st.version += 1  # the trust score's owner factor changes with it
    if st.human or st.managed_by is not None or not st.credentials:
        return []
    return _judge(event, st, s, "was active")


def _judge(event: Event, st: NhiState, s: Settings, what: str) -> list[Finding]:
    reason, why = _reason(st)
    if reason is None:
        return []
    f = raise_finding(
        st,
        event,
        detector=DETECTOR,
        key=reason,
        severity=REASONS[reason],
        reason=reason,
        summary=f"{st.nhi} {what} while {why}",
        cap=s.evidence_cap,
        credential=event.credential if event.nhi == st.nhi else None,
        task=event.task if event.nhi == st.nhi else None,
        details={"owner": st.owner, "owner_source": st.owner_source, "scope": scope_of(st.nhi)},
        extra_evidence=tuple(
            e for e in ((st.scope_event if reason == "never-registered" else st.owner_event),) if e
        ),
    )
    return [f] if f else []


def _reason(st: NhiState) -> tuple[str | None, str]:
    if st.deleted:
        return "identity-deleted", "the identity is deleted"
    if st.owner is not None and st.owner_departed:
        return "owner-departed", f"its owner {st.owner} has departed"
    if not st.registered and st.owner is None:
        if st.scope_inventoried:
            return (
                "never-registered",
                f"it was never registered though an inventory covers {scope_of(st.nhi)}",
            )
        return None, ""  # no inventory for its scope: counted and scored, not an alert
    if st.owner is None:
        if st.created_by:
            return "no-owner", f"it has no owner ({st.created_by} created it with no owner tag)"
        return "no-owner", "it has no registered owner"
    return None, ""
