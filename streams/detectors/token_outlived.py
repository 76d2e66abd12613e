"""token-outlived-task: a credential issued for (or bound to) a task that stays usable after it.

(a) At task end, each bound credential neither revoked nor expired whose expiry is absent or
    later than end + max_overhang is a finding (medium), resolved if the credential is revoked.
(b) A use of such a credential later than end + grace is a finding (high).
"""

from __future__ import annotations

from contract.changes import finding_id
from contract.events import Event, EventType
from contract.records import Finding
from contract.settings import Settings
from streams.detectors.common import human_duration, raise_finding, resolve_finding
from streams.state import NhiState

DETECTOR = "token-outlived-task"
# Every reason this detector gives its findings; alerts/runbooks.py has a runbook for each (tested).
REASONS: tuple[str, ...] = ("outlived-task", "used-after-task-end")


def detect(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    t = event.type
    if t is EventType.TASK_ENDED:
        return _task_ended(event, st, s)
    if t is EventType.CREDENTIAL_USED:
        return _used(event, st, s)
    if t is EventType.CREDENTIAL_REVOKED and event.credential:
        fid = finding_id(DETECTOR, st.nhi, event.credential)
        done = resolve_finding(st, fid, event, "credential revoked", s.evidence_cap)
        return [done] if done else []
    return []


def _task_ended(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    if not event.task:
        return []
    ts = st.tasks.get(event.task)
    if ts is None or ts.ended_event != event.id or ts.ended_at is None:
        return []  # a repeated end of the same task judges nothing new
    end = ts.ended_at
    limit = end + s.max_overhang
    out: list[Finding] = []
    for cs in st.credentials.values():
        if cs.task != event.task:
            continue
        if cs.revoked_at is not None and cs.revoked_at <= end:
            continue
        if cs.invalidated_with_task:
            continue  # the issuer itself ends it with the task (collectors set attrs.invalidated_with_task)
        if cs.expires_at is not None and cs.expires_at <= limit:
            continue  # expired already, or expires within the allowed overhang
        if cs.expires_at is None:
            outlives = "never expires"
            seconds = None
        else:
            seconds = (cs.expires_at - end).total_seconds()
            outlives = f"outlives it by {human_duration(seconds)}"
        f = raise_finding(
            st,
            event,
            detector=DETECTOR,
            key=cs.credential,
            severity="medium",
            reason="outlived-task",
            summary=f"credential {cs.credential} of {st.nhi} is still valid after task {event.task} ended: {outlives}",
            cap=s.evidence_cap,
            credential=cs.credential,
            task=event.task,
            details={
                "task_ended_at": end.isoformat(),
                "expires_at": cs.expires_at.isoformat() if cs.expires_at else None,
                "outlives_s": seconds,
                "method": cs.method,
            },
            extra_evidence=tuple(e for e in (cs.issued_event,) if e),
        )
        if f is not None:
            out.append(f)
    return out


def _used(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    if not event.credential:
        return []
    cs = st.credentials.get(event.credential)
    if cs is None or cs.task is None:
        return []
    ts = st.tasks.get(cs.task)
    if ts is None or ts.ended_at is None:
        return []
    late = (event.time - ts.ended_at).total_seconds()
    if late <= s.grace_s:
        return []
    f = raise_finding(
        st,
        event,
        detector=DETECTOR,
        key=cs.credential + ":used-after-end",
        severity="high",
        reason="used-after-task-end",
        summary=f"credential {cs.credential} of {st.nhi} used {human_duration(late)} after task {cs.task} ended"
        + (f" ({event.action} {event.resource})" if event.action else ""),
        cap=s.evidence_cap,
        credential=cs.credential,
        task=cs.task,
        details={"task_ended_at": ts.ended_at.isoformat(), "late_s": late, "action": event.action},
        extra_evidence=tuple(e for e in (ts.ended_event,) if e),
    )
    return [f] if f else []
