"""context-drift: a credential or identity used outside the context it belongs to.

(a) Credential level (high): a use with a pod_uid, node, instance or ip different from the one
    the credential was issued with - a copied or replayed credential. Different credentials of
    one NHI may differ freely (pods move, nodes change); only a credential against itself counts.
(b) Identity level (medium): a cluster, namespace, env, region or image outside the NHI's
    baseline. The baseline is seeded by attested issuance and task starts; without them it is
    learned from the NHI's first ``learn_events`` events.
(c) Workload credentials used outside their workload (high/medium): see
    ``streams/detectors/workload.py``.
"""

from __future__ import annotations

from contract.events import EMPTY_CONTEXT, Event, EventType
from contract.records import Finding
from contract.settings import Settings
from streams.detectors.common import raise_finding, resolve_finding
from streams.detectors.workload import REASONS as WORKLOAD_REASONS
from streams.detectors.workload import workload_judged, workload_use
from streams.state import DRIFT_CREDENTIAL_ATTRS, DRIFT_IDENTITY_ATTRS, NhiState

DETECTOR = "context-drift"
# Every reason this detector gives its findings; alerts/runbooks.py has a runbook for each (tested).
REASONS: tuple[str, ...] = (
    *(f"credential-{a}-changed" for a in DRIFT_CREDENTIAL_ATTRS),
    *(f"new-{a}" for a in DRIFT_IDENTITY_ATTRS),
    *WORKLOAD_REASONS,
)


def detect(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    out: list[Finding] = []
    t = event.type
    if t is EventType.CREDENTIAL_USED and event.credential:
        out.extend(_credential_level(event, st, s))
        cs = st.credentials.get(event.credential)
        if cs is not None and cs.workload and workload_judged(event):
            out.extend(workload_use(event, st, cs, s))
    elif t is EventType.CREDENTIAL_REVOKED and event.credential:
        prefix = event.credential + ":"
        for f in list(st.findings.values()):
            if (
                f.detector == DETECTOR
                and f.status == "open"
                and f.credential == event.credential
                and f.details.get("key", "").startswith(prefix)
            ):
                done = resolve_finding(st, f.finding_id, event, "credential revoked", s.evidence_cap)
                if done:
                    out.append(done)
    out.extend(_identity_level(event, st, s))
    return out


def _credential_level(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    assert event.credential is not None
    cs = st.credentials.get(event.credential)
    if cs is None or not cs.issue_context:
        return []
    out = []
    ctx = event.context
    for attr in DRIFT_CREDENTIAL_ATTRS:
        used = getattr(ctx, attr)
        issued = cs.issue_context.get(attr)
        if used is None or issued is None or used == issued:
            continue
        key = f"{event.credential}:{attr}"
        f = raise_finding(
            st,
            event,
            detector=DETECTOR,
            key=key,
            severity="high",
            reason=f"credential-{attr}-changed",
            summary=f"credential {event.credential} of {st.nhi} issued to {attr} {issued} was used from {attr} {used}",
            cap=s.evidence_cap,
            credential=event.credential,
            task=cs.task,
            details={"key": key, "level": "credential", "attribute": attr, "issued": issued, "used": used},
            extra_evidence=tuple(e for e in (cs.issued_event,) if e),
        )
        if f:
            out.append(f)
    return out


def _identity_level(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    ctx = event.context
    if ctx is EMPTY_CONTEXT:
        return []
    seen = (ctx.cluster, ctx.namespace, ctx.env, ctx.region, ctx.image)
    if seen == st.last_context:
        return []  # the very context last found inside the baseline; baselines only grow
    values = [(a, v) for a, v in zip(DRIFT_IDENTITY_ATTRS, seen, strict=True) if v is not None]
    if not values:
        return []
    trusted = event.type is EventType.TASK_STARTED or (
        event.type is EventType.CREDENTIAL_ISSUED and event.attested
    )
    if trusted:
        if not st.baseline_seeded:
            st.baseline_seeded = True
        for a, v in values:
            st.baseline.setdefault(a, set()).add(v)
        return []
    if not st.baseline_seeded and st.event_count <= s.learn_events:
        for a, v in values:
            st.baseline.setdefault(a, set()).add(v)
        return []
    out = []
    inside = True
    for a, v in values:
        if v in st.baseline.get(a, ()):
            continue
        inside = False
        key = f"{a}={v}"
        st.drifted.setdefault(key, event.id)
        known = sorted(st.baseline.get(a, ()))
        f = raise_finding(
            st,
            event,
            detector=DETECTOR,
            key=key,
            severity="medium",
            reason=f"new-{a}",
            summary=f"{st.nhi} active in {a} {v!r}, outside its baseline {known or '(none)'}",
            cap=s.evidence_cap,
            credential=event.credential,
            task=event.task,
            details={"key": key, "level": "identity", "attribute": a, "value": v, "baseline": known},
        )
        if f:
            out.append(f)
    if inside:
        st.last_context = seen
    return out
