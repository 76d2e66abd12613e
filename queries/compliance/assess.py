"""Per-control status for one framework over a time range: pass, fail or not assessed.

A control is *not assessed* when no detector covers it, or when no event fell in the range (no
evidence either way). It *fails* when a non-suppressed finding that bears on it (by detector and
reason, see frameworks.RULES) changed in the range, even if it was resolved since: the period
had the problem. Otherwise it *passes*. Counts and the finding ids behind each status go with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.compliance import Framework, controls_for, detectors_for


@dataclass(slots=True)
class ControlStatus:
    framework: str
    control: str
    name: str
    status: str  # pass | fail | not assessed
    detectors: list[str]
    findings: int = 0
    open: int = 0
    resolved: int = 0
    suppressed: int = 0
    finding_ids: list[str] = field(default_factory=list)
    note: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "control": self.control,
            "name": self.name,
            "status": self.status,
            "detectors": " ".join(self.detectors),
            "findings": self.findings,
            "open": self.open,
            "resolved": self.resolved,
            "suppressed": self.suppressed,
            "finding_ids": " ".join(self.finding_ids),
            "note": self.note,
        }


def assess(fw: Framework, findings: list[dict[str, Any]], events_in_range: int) -> list[ControlStatus]:
    """``findings``: rows with finding_id, detector, reason, status, suppressed (the assessment SQL)."""
    out = []
    for c in fw.controls:
        dets = detectors_for(fw.key, c.id)
        st = ControlStatus(fw.key, c.id, c.name, "not assessed", dets)
        if not dets:
            st.note = c.gap
            out.append(st)
            continue
        if not events_in_range:
            st.note = "no events in the range: no evidence either way"
            out.append(st)
            continue
        for f in findings:
            if c.id not in controls_for(f["detector"], f["reason"]).get(fw.key, ()):
                continue
            st.findings += 1
            st.finding_ids.append(f["finding_id"])
            if f["suppressed"]:
                st.suppressed += 1
            elif f["status"] == "open":
                st.open += 1
            else:
                st.resolved += 1
        st.status = "fail" if st.open + st.resolved else "pass"
        if st.status == "pass":
            st.note = f"covered by {', '.join(dets)}; no finding in the range" + (
                f" ({st.suppressed} suppressed)" if st.suppressed else ""
            )
        out.append(st)
    return out
