"""What the engine emits: finding changes, trust changes and entity snapshots.

Plain slotted dataclasses: cheap to build on the hot path, and ``as_row`` gives the flat
dict the store and the Kafka topics use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["low", "medium", "high"]
FindingStatus = Literal["open", "resolved"]
Activity = Literal["create", "update", "close"]

SEVERITY_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3}

# The rows below are the schema: the store builds its Arrow tables from their fields and types, and a
# test holds the migrations to them. Integers are 64-bit unless a field carries this marker.
INT32: dict[str, Any] = {"int_bits": 32}


@dataclass(slots=True)
class Finding:
    finding_id: str
    detector: str
    severity: Severity
    status: FindingStatus
    nhi: str
    credential: str | None
    task: str | None
    reason: str
    summary: str
    first_seen: datetime
    last_seen: datetime
    evidence: list[str]
    activity: Activity = "create"
    resolved_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True, frozen=True)
class Factor:
    """One explainable piece of the trust score."""

    name: str
    delta: int
    detail: str
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "delta": self.delta,
            "detail": self.detail,
            "evidence": list(self.evidence),
        }


@dataclass(slots=True)
class TrustChange:
    nhi: str
    time: datetime
    score: int = field(metadata=INT32)
    previous: int | None = field(metadata=INT32)
    factors: tuple[Factor, ...]
    event_id: str

    def as_row(self) -> dict[str, Any]:
        return {
            "nhi": self.nhi,
            "time": self.time,
            "score": self.score,
            "previous": self.previous,
            "factors": [f.as_dict() for f in self.factors],
            "event_id": self.event_id,
        }


@dataclass(slots=True)
class IdentityRow:
    nhi: str
    owner: str | None
    owner_status: str  # active | departed | none | human | managed
    status: str  # registered | unregistered | deleted
    purpose: str | None
    first_seen: datetime
    last_seen: datetime
    event_count: int
    trust: int = field(metadata=INT32)
    open_findings: int = field(metadata=INT32)
    kind: str | None = None  # human | machine | None (no evidence yet)
    kind_evidence: str | None = None
    human_use: str | None = None  # OWASP NHI10: the evidence of a person using this machine identity
    owner_source: str | None = None  # inventory | tag | label | annotation | log | creator
    managed_by: str | None = None
    scope: str | None = None
    scope_inventoried: bool | None = None


@dataclass(slots=True)
class CredentialRow:
    credential: str
    nhi: str
    method: str | None
    task: str | None
    attested: bool
    issued_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    first_used: datetime | None
    last_used: datetime | None
    use_count: int


@dataclass(slots=True)
class TaskRow:
    task: str
    nhi: str
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(slots=True)
class Snapshots:
    """Latest state of the entities touched since the last drain."""

    identities: list[IdentityRow] = field(default_factory=list)
    credentials: list[CredentialRow] = field(default_factory=list)
    tasks: list[TaskRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.identities or self.credentials or self.tasks)
