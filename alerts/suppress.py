"""Suppression rules: matching findings become suppressed alerts (OCSF status_id 3), never dropped.

A rules file (YAML)::

    suppressions:
      - id: ci-deployer-nightly-revoke
        reason: CI tokens are revoked by the nightly job (SEC-1234)
        expires: 2026-09-30T00:00:00Z     # required: tuning is reviewed, not forever
        match:                            # every given field must match; strings are globs
          detector: token-outlived-task   # or a list of detectors
          nhi: "aws:*:role/ci-*"
          namespace: payments
          owner: team-billing

Expiry is judged against the wall clock when the alert is rendered: an expired rule stops
applying, so the next rendering of the same finding is a normal alert again.

A rules file is a preview: it changes how alerts are shown and routed, never the evidence. A
suppression that counts (in compliance packages, and in every later rendering) is recorded with
``nhi suppress add`` (contract.suppressions): ``Suppressor.recorded`` carries those, by finding.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerts.context import NhiContext
from contract.errors import ConfigError
from contract.records import Finding
from contract.suppressions import SuppressionRow

ENV = "NHI_SUPPRESSIONS"


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: str | list[str] | None = None
    nhi: str | None = None
    namespace: str | None = None
    owner: str | None = None

    def matches(self, finding: Finding, ctx: NhiContext) -> bool:
        if self.detector is not None:
            wanted = [self.detector] if isinstance(self.detector, str) else self.detector
            if not any(fnmatchcase(finding.detector, d) for d in wanted):
                return False
        for pattern, value in (
            (self.nhi, finding.nhi),
            (self.namespace, ctx.namespace),
            (self.owner, ctx.owner),
        ):
            # a field the rule names but the finding lacks (no owner, no namespace) does not match
            if pattern is not None and (value is None or not fnmatchcase(value, pattern)):
                return False
        return True


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: datetime
    match: Match

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def active(self, now: datetime) -> bool:
        return now < self.expires


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suppressions: list[Rule] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Suppression:
    """The rule that suppressed an alert: carried in the OCSF record and the store."""

    rule_id: str  # a rules file's rule id, or a recorded suppression's id (sup-...)
    reason: str
    expires: datetime
    by: str | None = None  # recorded suppressions: who recorded it, and when
    recorded_at: datetime | None = None

    @classmethod
    def recorded(cls, row: SuppressionRow) -> Suppression:
        assert row.expires is not None  # an add row always has one
        return cls(row.suppression_id, row.reason, row.expires, row.actor, row.recorded_at)


class Suppressor:
    def __init__(
        self,
        rules: Sequence[Rule] = (),
        clock: Callable[[], datetime] | None = None,
        recorded: dict[str, Suppression] | None = None,
    ) -> None:
        self.rules = list(rules)
        self._clock = clock or (lambda: datetime.now(UTC))
        # Suppressions recorded in the store and in force, by finding id: they come first.
        self.recorded = recorded or {}

    def __bool__(self) -> bool:
        return bool(self.rules or self.recorded)

    def with_recorded(self, recorded: dict[str, Suppression]) -> Suppressor:
        return Suppressor(self.rules, self._clock, recorded)

    def check(self, finding: Finding, ctx: NhiContext) -> Suppression | None:
        """The recorded suppression of the finding, else the first active rule matching it, or None."""
        found = self.recorded.get(finding.finding_id)
        if found is not None:
            return found
        now = self._clock()
        for rule in self.rules:
            if rule.active(now) and rule.match.matches(finding, ctx):
                return Suppression(rule.id, rule.reason, rule.expires)
        return None


def _issues(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())


def parse_rules(data: Any, origin: str) -> list[Rule]:
    if data is None:
        return []
    try:
        rules = RulesFile.model_validate(data).suppressions
    except ValidationError as exc:
        raise ConfigError(f"suppressions file {origin}: {_issues(exc)}") from exc
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(f"suppressions file {origin}: rule id {rule.id!r} is used twice")
        seen.add(rule.id)
    return rules


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Rules from ``path``, else from $NHI_SUPPRESSIONS, else none."""
    target = path or os.environ.get(ENV)
    if not target:
        return []
    p = Path(target)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"suppressions file {p} can't be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"suppressions file {p} is not valid YAML: {exc}") from exc
    return parse_rules(data, str(p))
