"""The trust score: 0-100 per NHI, a pure function of its state, explained by factors.

Each factor carries its delta and the evidence behind it; the score is 100 plus the deltas,
clamped. Factors look at the NHI's live credentials only (issued, not revoked, not expired), so
the cost per event stays flat however long an NHI lives.
"""

from __future__ import annotations

from datetime import datetime

from contract.identity import scope_of
from contract.records import Factor, TrustChange
from contract.settings import Settings
from streams.state import NhiState

SEVERITY_DELTA = {"high": -20, "medium": -10, "low": -5}
DELETED_DELTA, DEPARTED_DELTA, NO_OWNER_DELTA, CREATOR_DELTA = -30, -25, -15, -5
HUMAN_USE_DELTA = -10  # OWASP NHI10: a person using a machine identity
FINDINGS_FLOOR = -60
DRIFT_DELTA, DRIFT_FLOOR = -5, -15


def factors(st: NhiState, s: Settings, now: datetime) -> tuple[tuple[Factor, ...], datetime | None]:
    """The factors at ``now``, and the next instant at which they change by themselves (an expiry)."""
    out: list[Factor] = []
    next_expiry: datetime | None = None
    out.append(owner_factor(st))
    if st.human_use is not None:
        evidence, event_id = st.human_use
        out.append(
            Factor("human_use", HUMAN_USE_DELTA, f"a machine identity a person used: {evidence}", (event_id,))
        )

    live = st.live
    expired = [k for k, c in live.items() if c.expires_at is not None and c.expires_at <= now]
    for k in expired:
        del live[k]  # expiry is final; forget it so later scans stay short
    judged = list(live.values()) or ([st.last_issued] if st.last_issued is not None else [])
    if judged:
        unattested = [c for c in judged if not c.attested]
        if unattested:
            out.append(
                Factor(
                    "attestation",
                    -10,
                    "credentials issued without workload attestation",
                    tuple(c.issued_event for c in unattested[:3] if c.issued_event),
                )
            )
        else:
            out.append(Factor("attestation", 0, "credentials issued with attestation"))
    if live:
        expiries = [c.expires_at for c in live.values() if c.expires_at is not None]
        next_expiry = min(expiries) if expiries else None
        never = [c for c in live.values() if c.expires_at is None]
        long_lived = [
            c
            for c in live.values()
            if c.expires_at is not None and c.issued_at and c.expires_at - c.issued_at > s.long_lived
        ]
        if never:
            out.append(
                Factor(
                    "credential_lifetime",
                    -15,
                    "live credentials that never expire",
                    tuple(c.issued_event for c in never[:3] if c.issued_event),
                )
            )
        elif long_lived:
            out.append(
                Factor(
                    "credential_lifetime",
                    -5,
                    "live long-lived credentials",
                    tuple(c.issued_event for c in long_lived[:3] if c.issued_event),
                )
            )
        else:
            out.append(Factor("credential_lifetime", 0, "live credentials are short-lived"))

    open_findings = [f for f in st.findings.values() if f.status == "open"]
    if open_findings:
        delta = max(FINDINGS_FLOOR, sum(SEVERITY_DELTA[f.severity] for f in open_findings))
        ids = ", ".join(sorted(f.finding_id for f in open_findings)[:5])
        out.append(
            Factor(
                "open_findings",
                delta,
                f"{len(open_findings)} open finding(s): {ids}",
                tuple(f.evidence[0] for f in open_findings[:5] if f.evidence),
            )
        )
    if st.drifted:
        delta = max(DRIFT_FLOOR, DRIFT_DELTA * len(st.drifted))
        out.append(
            Factor(
                "drift",
                delta,
                "activity outside baseline: " + ", ".join(sorted(st.drifted)[:5]),
                tuple(list(st.drifted.values())[:5]),
            )
        )
    return tuple(out), next_expiry


def owner_factor(st: NhiState) -> Factor:
    """Who is accountable, and how sure we are of it."""
    ev = (st.owner_event,) if st.owner_event else ()
    if st.human:
        evidence, event_id = st.kind_evidence.get("human", ("", ""))
        return Factor(
            "owner", 0, f"a person, not a machine identity ({evidence})", (event_id,) if event_id else ()
        )
    if st.deleted:
        return Factor("owner", DELETED_DELTA, "identity deleted but still active", ev)
    if st.owner is not None and st.owner_departed:
        return Factor("owner", DEPARTED_DELTA, f"owner {st.owner} has departed", ev)
    if st.managed_by is not None and st.owner is None:
        return Factor("owner", 0, f"managed by its provider ({st.managed_by})")
    if st.owner is None:
        if st.registered:
            return Factor("owner", NO_OWNER_DELTA, "registered without an owner")
        scope = scope_of(st.nhi)
        if st.scope_inventoried:
            shadow = f"never registered though an inventory covers {scope} (a shadow NHI)"
            return Factor("owner", NO_OWNER_DELTA, shadow, (st.scope_event,) if st.scope_event else ())
        return Factor("owner", NO_OWNER_DELTA, f"no known owner (no inventory covers {scope})")
    if st.owner_source == "creator":
        return Factor(
            "owner",
            CREATOR_DELTA,
            f"owned by its creator {st.owner} (no inventory or tag names an owner)",
            ev,
        )
    return Factor("owner", 0, f"owner {st.owner} is active", ev)


def score_of(fs: tuple[Factor, ...]) -> int:
    return max(0, min(100, 100 + sum(f.delta for f in fs)))


def update_trust(st: NhiState, s: Settings, now: datetime, event_id: str) -> TrustChange | None:
    """Recompute when inputs changed; a change is reported when the score or a factor's delta changes."""
    if st.trust_version == st.version and (st.trust_valid_until is None or now < st.trust_valid_until):
        return None
    fs, st.trust_valid_until = factors(st, s, now)
    st.trust_version = st.version
    # factors at 0 come and go with every token cycle; only what moves the score is a change
    key = tuple((f.name, f.delta) for f in fs if f.delta)
    if key == st.trust_key:
        return None
    previous = st.trust
    score = score_of(fs)
    st.trust, st.trust_key = score, key
    return TrustChange(nhi=st.nhi, time=now, score=score, previous=previous, factors=fs, event_id=event_id)
