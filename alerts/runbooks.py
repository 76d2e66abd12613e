"""Runbooks as data: per detector and reason, what a finding means, how sure the detector is, the
steps to take and the documents to read. The built-in catalogue is alerts/runbooks.yaml; a site's
own file ($NHI_RUNBOOKS, same shape) adds entries or replaces built-in ones.

Alerts carry the runbook (OCSF ``finding_info.desc``, ``remediation``, ``confidence_id``) and
``nhi explain`` prints it. A reason without an entry still gets its detector's generic text, so a
new reason never breaks an alert; the test suite makes sure every declared reason has its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.errors import ConfigError
from contract.records import Finding

ENV = "NHI_RUNBOOKS"
Confidence = Literal["low", "medium", "high"]
CONFIDENCE_ID: dict[str, tuple[int, str]] = {"low": (1, "Low"), "medium": (2, "Medium"), "high": (3, "High")}
_PLACEHOLDER = re.compile(r"\{(nhi|credential|task|owner)\}")


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https://")


class Runbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    confidence: Confidence
    steps: tuple[str, ...] = Field(min_length=1)
    references: tuple[Reference, ...] = ()


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    references: dict[str, Reference] = Field(default_factory=dict)  # anchors for the entries
    runbooks: dict[str, dict[str, Runbook]]


@dataclass(frozen=True, slots=True)
class Guidance:
    """A runbook filled in for one finding: what alerts and ``nhi explain`` show."""

    detector: str
    reason: str
    title: str
    description: str
    confidence: Confidence
    steps: tuple[str, ...]
    references: tuple[Reference, ...]
    specific: bool  # False: the detector's generic text (no entry for this reason)

    @property
    def remediation_text(self) -> str:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(self.steps, 1))


def _parse(data: Any, origin: str) -> dict[tuple[str, str], Runbook]:
    try:
        cat = _Catalogue.model_validate(data)
    except ValidationError as exc:
        issues = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"runbooks {origin}: {issues}") from exc
    return {(det, reason): rb for det, reasons in cat.runbooks.items() for reason, rb in reasons.items()}


def _read(text: str, origin: str) -> dict[tuple[str, str], Runbook]:
    try:
        return _parse(yaml.safe_load(text), origin)
    except yaml.YAMLError as exc:
        raise ConfigError(f"runbooks {origin} is not valid YAML: {exc}") from exc


@lru_cache(maxsize=4)
def catalogue(extra: str | None = None) -> dict[tuple[str, str], Runbook]:
    """Built-in runbooks, with ``extra`` (a path; default $NHI_RUNBOOKS) layered on top."""
    out = _read(files("alerts").joinpath("runbooks.yaml").read_text(encoding="utf-8"), "(built-in)")
    path = extra if extra is not None else os.environ.get(ENV)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"runbooks file {path} can't be read: {exc}") from exc
        out.update(_read(text, path))
    return out


def _fill(text: str, values: dict[str, str | None]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m[1]) or f"(no {m[1]})", text)


def _generic(detector: str, reason: str, why: str) -> Runbook:
    return Runbook(
        title=f"{detector}: {reason}",
        description=why or f"{detector} raised a finding ({reason}).",
        confidence="medium",
        steps=(
            "Read the evidence in order (`nhi explain FINDING`) and decide whether the activity was expected.",
            "Ask the identity's owner ({owner}) about {nhi}; revoke {credential} if nobody can account for it.",
        ),
    )


def guidance(f: Finding, owner: str | None = None, why: str = "") -> Guidance:
    """The runbook for ``f`` filled in with its identity, credential, task and owner."""
    rb = catalogue().get((f.detector, f.reason))
    specific = rb is not None
    if rb is None:
        rb = _generic(f.detector, f.reason, why)
    values = {"nhi": f.nhi, "credential": f.credential, "task": f.task, "owner": owner}
    return Guidance(
        detector=f.detector,
        reason=f.reason,
        title=rb.title,
        description=_fill(rb.description, values),
        confidence=rb.confidence,
        steps=tuple(_fill(s, values) for s in rb.steps),
        references=rb.references,
        specific=specific,
    )
