"""The notification policy: which finding changes are worth a person's attention.

Every change goes to the store and the findings topic. People are told when a finding

- opens (``opened``),
- gets a higher severity (``severity-raised``),
- changes status: ``resolved``, ``suppressed``, ``unsuppressed`` (a rule stopped applying) or
  ``reopened`` (the same cause again after it was resolved).

An update that only adds evidence (``evidence``) is recorded, not notified. The OCSF ``is_alert``
of each record is the policy's decision, and routes deliver only notified changes unless they ask
for every change.

The policy compares each change with the last state it saw of the same finding. Reading the store,
that previous state comes with each change (so ``--since`` starts mid-history correctly). On the
findings topic, the policy knows what it has seen since it started; an update of a finding first
seen mid-stream is counted as evidence, because its opening was notified before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from contract.records import SEVERITY_RANK, Finding

Change = Literal[
    "opened", "severity-raised", "resolved", "reopened", "suppressed", "unsuppressed", "evidence"
]
CHANGES: tuple[Change, ...] = get_args(Change)
NOTIFY_BY_DEFAULT: frozenset[Change] = frozenset(c for c in CHANGES if c != "evidence")


@dataclass(frozen=True, slots=True)
class State:
    """What a finding looked like at one change: its severity and its status for people."""

    severity: str
    status: Literal["open", "resolved", "suppressed"]


@dataclass(frozen=True, slots=True)
class Notice:
    """The policy's verdict on one change."""

    change: Change
    notify: bool
    detail: str  # e.g. "severity medium -> high", for text output and templates


def state_of(f: Finding, suppressed: bool) -> State:
    if f.activity == "close" or f.status == "resolved":
        return State(f.severity, "resolved")
    return State(f.severity, "suppressed" if suppressed else "open")


def classify(f: Finding, now: State, before: State | None) -> tuple[Change, str]:
    """What kind of change ``f`` is, given the state of its finding before it (if known)."""
    if before is None:
        if f.activity == "create":
            return "opened", f"{f.severity} finding opened"
        if f.activity == "close":
            return "resolved", str(f.details.get("resolution", "cause went away"))
        return "evidence", "update of a finding opened before this feed started"
    if now.status != before.status:
        if now.status == "resolved":
            return "resolved", str(f.details.get("resolution", "cause went away"))
        if now.status == "suppressed":
            return "suppressed", "a suppression now applies"
        if before.status == "resolved":
            return "reopened", "the same cause again after it was resolved"
        return "unsuppressed", "the suppression no longer applies"
    if SEVERITY_RANK[now.severity] > SEVERITY_RANK[before.severity]:
        return "severity-raised", f"severity {before.severity} -> {now.severity}"
    if f.activity == "create":  # a recreated finding id (e.g. a replay into a fresh store)
        return "opened", f"{f.severity} finding opened"
    return "evidence", f"new evidence ({len(f.evidence)} events cited)"


class NotificationPolicy:
    """Decides per change; remembers the last state of each finding it has seen."""

    def __init__(self, notify_on: frozenset[Change] = NOTIFY_BY_DEFAULT) -> None:
        self.notify_on = notify_on
        self._last: dict[str, State] = {}
        self.counts: dict[Change, int] = dict.fromkeys(CHANGES, 0)

    def decide(self, f: Finding, suppressed: bool, previous: State | None = None) -> Notice:
        """``previous``: the finding's state before this change, when the caller knows it (the store)."""
        now = state_of(f, suppressed)
        before = self._last.get(f.finding_id, previous)
        change, detail = classify(f, now, before)
        self._last[f.finding_id] = now
        self.counts[change] += 1
        # People hear that a finding they were told about is now suppressed, and nothing else about
        # it while the suppression applies; a finding suppressed from its first change stays quiet.
        quiet = suppressed and (change != "suppressed" or before is None)
        return Notice(change, change in self.notify_on and not quiet, detail)
