"""The story of one finding, read from the store: what happened (the evidence events in order, and
the finding's own changes), who is accountable (the identity's owner and trust score, with the
factors that explain it) and what to do (the runbook). ``nhi explain`` prints it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.ocsf import detector_why
from alerts.runbooks import Guidance, guidance
from contract.errors import ConfigError
from contract.records import Finding
from store.evidence import (
    EvidenceEvent,
    HistoryRow,
    TrustRow,
    evidence_events,
    find_finding,
    finding_history,
    identity_row,
    trust_history,
)
from store.store import Store


@dataclass(frozen=True, slots=True)
class Story:
    finding: Finding  # its current state
    history: list[HistoryRow]
    events: list[EvidenceEvent]  # every event any change cited, oldest first
    cause: str | None  # the first event cited: what opened the finding
    identity: dict[str, Any] | None
    trust: list[TrustRow]  # newest first
    guide: Guidance
    missing_events: list[str] = field(default_factory=list)  # cited but not in the store

    @property
    def factors(self) -> list[dict[str, Any]]:
        return self.trust[0].factors if self.trust else []

    def timeline(self) -> list[tuple[datetime, str, str]]:
        """(time, kind, text): evidence events, finding changes and trust changes, in time order."""
        rows: list[tuple[datetime, int, str, str]] = []
        for e in self.events:
            what = " ".join(x for x in (e.type, e.action, e.resource, e.outcome) if x)
            where = ", ".join(
                f"{k} {v}" for k, v in (("ip", e.ip), ("node", e.node), ("pod", e.pod_uid)) if v
            )
            rows.append(
                (
                    e.time,
                    0,
                    "event",
                    what + (f" ({where})" if where else "") + ("  <- cause" if e.id == self.cause else ""),
                )
            )
        for h in self.history:
            rows.append((h.time, 1, "finding", f"{h.activity} {h.severity} {h.status}: {h.summary}"))
        first, last = (self.history[0].time, self.history[-1].time) if self.history else (None, None)
        for t in reversed(self.trust):
            if first is not None and last is not None and first <= t.time <= last:
                rows.append(
                    (t.time, 2, "trust", f"{'new' if t.previous is None else t.previous} -> {t.score}")
                )
        return [(t, kind, text) for t, _, kind, text in sorted(rows, key=lambda r: (r[0], r[1]))]

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {
            "finding": {**f.as_row(), "first_seen": f.first_seen.isoformat(), "last_seen": f.last_seen.isoformat(),
                        "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None},
            "identity": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in (self.identity or {}).items()},
            "trust_factors": self.factors,
            "timeline": [{"time": t.isoformat(), "kind": k, "what": w} for t, k, w in self.timeline()],
            "runbook": {"title": self.guide.title, "description": self.guide.description,
                        "confidence": self.guide.confidence, "steps": list(self.guide.steps),
                        "references": [{"title": r.title, "url": r.url} for r in self.guide.references]},
            "missing_events": self.missing_events,
        }  # fmt: skip


def _current(
    fid: str, history: list[HistoryRow], detector: str, nhi: str, cred: str | None, task: str | None
) -> Finding:
    first, last = history[0], history[-1]
    return Finding(
        finding_id=fid, detector=detector, severity=last.severity,  # type: ignore[arg-type]
        status=last.status, nhi=nhi, credential=cred, task=task, reason=last.reason,  # type: ignore[arg-type]
        summary=last.summary, first_seen=first.time, last_seen=last.time, evidence=list(last.evidence),
        activity=last.activity,  # type: ignore[arg-type]
        resolved_at=last.time if last.activity == "close" else None, details=last.details,
    )  # fmt: skip


def resolve_id(store: Store, query: str) -> str:
    found = find_finding(store, query)
    if query in found:
        return query
    if not found:
        raise ConfigError(
            f"no finding {query!r} in {store.path}; list them with: nhi query --db {store.path} "
            '"SELECT finding_id, detector, nhi, summary FROM findings ORDER BY last_seen DESC"'
        )
    if len(found) > 1:
        raise ConfigError(f"{query!r} matches several findings ({', '.join(found)}...): give more of the id")
    return found[0]


def explain(store: Store, query: str) -> Story:
    """The story of the finding whose id is (or starts with) ``query``."""
    fid = resolve_id(store, query)
    head = store.rows(
        "SELECT detector, nhi, credential, task FROM findings WHERE finding_id = $f", {"f": fid}
    )[0]
    history = finding_history(store, fid)
    if not history:
        raise ConfigError(f"finding {fid} has no changes in finding_history: the store is incomplete")
    f = _current(fid, history, *head)
    cited = list(dict.fromkeys(e for h in history for e in h.evidence))
    events = evidence_events(store, cited)
    ident = identity_row(store, f.nhi)
    owner = ident["owner"] if ident else None
    return Story(
        finding=f,
        history=history,
        events=sorted(events.values(), key=lambda e: (e.time, e.id)),
        cause=cited[0] if cited else None,
        identity=ident,
        trust=trust_history(store, f.nhi),
        guide=guidance(f, owner, detector_why(f.detector)),
        missing_events=[e for e in cited if e not in events],
    )
