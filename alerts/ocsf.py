"""A finding change as an OCSF 1.8.0 Detection Finding (class_uid 2004), and as one text line.

One alert per finding (``finding_info.uid`` = the engine's deterministic finding id): its
create, update and close changes are activities 1, 2 and 3 of the same alert, not new alerts.
``metadata.uid`` is the change's own id (finding_history.history_id), which links a delivered
record to its row in the store's hash chain. ``is_alert`` is the notification policy's verdict
(alerts/policy.py): true when people should hear about this change.

The runbook of the finding's detector and reason fills ``finding_info.desc``, ``remediation`` and
``confidence_id``; the identity, its credential, the IPs and the resources of the evidence events
are ``observables``; the identity acting is ``evidences[].actor.user`` with ``type_id`` 4 (Service).

Times are epoch milliseconds. The framework mapping is OCSF ``compliance`` objects; Detection
Finding has no ``compliance`` attribute, so they go under ``unmapped.compliance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from alerts.context import NhiContext, product_version
from alerts.ocsf_parts import evidences, observables, resources
from alerts.policy import Notice, classify, state_of
from alerts.runbooks import CONFIDENCE_ID, Guidance, guidance
from alerts.suppress import Suppression
from contract.changes import change_time, history_id
from contract.compliance import FRAMEWORKS, RULES, controls_for
from contract.records import Finding
from store.evidence import EvidenceEvent

OCSF_VERSION = "1.8.0"
CLASS_UID = 2004
CATEGORY_UID = 2
PRODUCT = "nhi-evidence"

ACTIVITY = {"create": (1, "Create"), "update": (2, "Update"), "close": (3, "Close")}
SEVERITY = {"low": (2, "Low"), "medium": (3, "Medium"), "high": (4, "High")}
STATUS_NEW = (1, "New")
STATUS_SUPPRESSED = (3, "Suppressed")
STATUS_RESOLVED = (4, "Resolved")


@dataclass(frozen=True, slots=True)
class Alert:
    """A finding change with what routing and rendering need around it."""

    finding: Finding
    uid: str  # the change id: finding_history.history_id
    context: NhiContext
    suppression: Suppression | None = None
    seq: int | None = None  # position in the store's findings chain, when read from the store
    notice: Notice | None = None  # the notification policy's verdict (None: judged on its own)
    evidence: tuple[EvidenceEvent, ...] = ()  # the cited events, when read from the store

    @property
    def time(self) -> datetime:
        return change_time(self.finding)

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    @property
    def verdict(self) -> Notice:
        """The policy's notice, or (for an alert made outside a feed) the change judged alone."""
        if self.notice is not None:
            return self.notice
        change, detail = classify(self.finding, state_of(self.finding, self.suppressed), None)
        return Notice(change, change != "evidence", detail)

    @property
    def guidance(self) -> Guidance:
        return guidance(self.finding, self.context.owner, detector_why(self.finding.detector))


def change_uid(f: Finding) -> str:
    """The id the store gives this change (so alerts from Kafka or a replay match stored rows)."""
    return history_id(f, orjson.dumps(f.details, default=str).decode())


def ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def _status(alert: Alert) -> tuple[int, str]:
    if alert.finding.activity == "close" or alert.finding.status == "resolved":
        return STATUS_RESOLVED
    return STATUS_SUPPRESSED if alert.suppressed else STATUS_NEW


def compliance(f: Finding) -> list[dict[str, Any]]:
    """One OCSF compliance object per control the finding bears on."""
    status_id, status = (1, "Pass") if f.status == "resolved" else (3, "Fail")
    out = []
    for key, ids in controls_for(f.detector, f.reason).items():
        fw = FRAMEWORKS[key]
        for cid in ids:
            out.append(
                {
                    "standards": [fw.title],
                    "control": cid,
                    "requirements": [f"{cid} {fw.control(cid).name}"],
                    "status": status,
                    "status_id": status_id,
                }
            )
    return out


def detector_why(detector: str) -> str:
    return next((r.why for r in RULES if r.detector == detector and r.reason_prefix is None), "")


def _analytic(detector: str) -> dict[str, Any]:
    return {"uid": detector, "name": detector, "type_id": 1, "type": "Rule", "desc": detector_why(detector)}


def to_ocsf(alert: Alert) -> dict[str, Any]:
    f = alert.finding
    activity_id, activity = ACTIVITY[f.activity]
    severity_id, severity = SEVERITY[f.severity]
    status_id, status = _status(alert)
    changed = ms(alert.time)
    guide = alert.guidance
    confidence_id, confidence = CONFIDENCE_ID[guide.confidence]
    notice = alert.verdict
    product = {"name": PRODUCT, "uid": PRODUCT, "vendor_name": PRODUCT, "version": product_version()}
    record: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"Detection Finding: {activity}",
        "time": changed,
        "timezone_offset": 0,  # every time here is UTC
        "start_time": ms(f.first_seen),
        "end_time": ms(f.last_seen),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "confidence_id": confidence_id,
        "confidence": confidence,
        "is_alert": notice.notify,
        "message": f.summary,
        "metadata": {
            "version": OCSF_VERSION,
            "product": product,
            "uid": alert.uid,
            "correlation_uid": f.finding_id,
            "log_name": "finding_history",
            "original_time": alert.time.isoformat(),
        },
        "finding_info": {
            "uid": f.finding_id,
            "title": guide.title,
            "desc": guide.description,
            "types": [f.detector, f.reason],
            "analytic": _analytic(f.detector),
            "created_time": ms(f.first_seen),
            "modified_time": changed,
            "first_seen_time": ms(f.first_seen),
            "last_seen_time": ms(f.last_seen),
            # related_event.product_uid is deprecated (since OCSF 1.4.0): the product object instead
            "related_events": [{"uid": e, "product": product} for e in f.evidence],
            "related_events_count": len(f.evidence),
        },
        "remediation": {
            "desc": guide.remediation_text,
            "references": [r.url for r in guide.references],
        },
        "resources": resources(f, alert.context),
        "evidences": evidences(f, alert.evidence),
        "unmapped": {
            "compliance": compliance(f),
            "reason": f.reason,
            "task": f.task,
            "details": f.details,
            "notification": {"change": notice.change, "notify": notice.notify, "detail": notice.detail},
        },
    }
    record["status_detail"] = notice.detail
    record["observables"] = observables(record)
    if alert.seq is not None:
        record["metadata"]["sequence"] = alert.seq
    if f.activity == "close" and f.resolved_at is not None:
        record["finding_info"]["modified_time"] = ms(f.resolved_at)
        record["status_detail"] = str(f.details.get("resolution", "cause went away"))
    if alert.suppression is not None:
        s = alert.suppression
        record["unmapped"]["suppressed_by"] = {
            "rule_id": s.rule_id,
            "reason": s.reason,
            "expires": ms(s.expires),
        }
        if s.by is not None:  # recorded with nhi suppress add: who and when are part of the record
            record["unmapped"]["suppressed_by"]["by"] = s.by
            record["unmapped"]["suppressed_by"]["recorded_time"] = (
                ms(s.recorded_at) if s.recorded_at else None
            )
        if f.activity != "close":
            record["status_detail"] = f"suppressed by rule {s.rule_id}: {s.reason}"
    return record


def to_text(alert: Alert) -> str:
    f = alert.finding
    when = alert.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    change = alert.verdict.change
    line = f"{when}  {f.severity.upper():<6}  {f.activity:<6}  {change:<15}  {f.detector:<19}  {f.nhi}  {f.summary}"
    if f.activity == "close":
        line += f"  [resolved: {f.details.get('resolution', 'cause went away')}]"
    if alert.suppression is not None:
        line += f"  [suppressed by {alert.suppression.rule_id}: {alert.suppression.reason}]"
    return line
