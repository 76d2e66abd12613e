"""The canonical event: native contract v1.

Every collector turns its records into these; the engine and the store read nothing else.
Unknown top-level fields are kept in ``attrs`` rather than refused, so producers can add
fields without breaking older pipelines.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

CONTRACT_VERSION = "1"


class EventType(StrEnum):
    IDENTITY_REGISTERED = "identity.registered"
    IDENTITY_UPDATED = "identity.updated"
    IDENTITY_DELETED = "identity.deleted"
    OWNER_DEPARTED = "owner.departed"
    TASK_STARTED = "task.started"
    TASK_ENDED = "task.ended"
    CREDENTIAL_ISSUED = "credential.issued"
    CREDENTIAL_USED = "credential.used"
    CREDENTIAL_REVOKED = "credential.revoked"


# Types that must name the identity they concern; the others are resolved through indexes.
NHI_REQUIRED = frozenset(
    {
        EventType.IDENTITY_REGISTERED,
        EventType.IDENTITY_UPDATED,
        EventType.IDENTITY_DELETED,
        EventType.CREDENTIAL_ISSUED,
        EventType.CREDENTIAL_USED,
    }
)

# Within one timestamp, apply state-building events before the ones that judge it, so a
# revocation at the very instant a task ends counts as "at or before the end".
TYPE_ORDER: dict[str, int] = {
    EventType.IDENTITY_REGISTERED: 0,
    EventType.IDENTITY_UPDATED: 1,
    EventType.TASK_STARTED: 2,
    EventType.CREDENTIAL_ISSUED: 3,
    EventType.CREDENTIAL_USED: 4,
    EventType.CREDENTIAL_REVOKED: 5,
    EventType.TASK_ENDED: 6,
    EventType.OWNER_DEPARTED: 7,
    EventType.IDENTITY_DELETED: 8,
}

CONTEXT_FIELDS = (
    "cluster",
    "namespace",
    "env",
    "region",
    "image",
    "node",
    "pod_uid",
    "instance",
    "ip",
    "user_agent",
)


class Context(BaseModel):
    """Where the event happened. All optional; collectors fill what their source records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str | None = None
    namespace: str | None = None
    env: str | None = None
    region: str | None = None
    image: str | None = None
    node: str | None = None
    pod_uid: str | None = None
    instance: str | None = None
    ip: str | None = None
    user_agent: str | None = None


EMPTY_CONTEXT = Context()


class Event(BaseModel):
    """One canonical NHI event (contract v1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    type: EventType = Field(description="What happened.")
    # AwareDatetime and Literal are checked in pydantic's core, not in Python: this is the hot path.
    time: AwareDatetime = Field(description="RFC 3339 event time (a timezone is required).")
    id: str = Field(default="", description="Stable event id; when absent, a hash of the record.")
    source: str = Field(default="native", description="Which collector produced the event.")
    nhi: str | None = Field(
        default=None,
        description="The identity, e.g. k8s:prod/payments/ledger, aws:123456789012:role/ci-deployer, "
        "spiffe://example.org/ns/analytics/sa/etl.",
    )
    credential: str | None = Field(
        default=None, description="Credential id or fingerprint, never the secret."
    )
    task: str | None = Field(default=None, description="Task id: pod, job, CI run, agent session.")
    owner: str | None = Field(default=None, description="Owner id (identity.*, owner.departed).")
    expires_at: AwareDatetime | None = Field(
        default=None, description="Credential or identity expiry; absent = never."
    )
    method: str | None = Field(
        default=None, description="Issuance method, e.g. k8s-bound-token, sts-assume-role."
    )
    attested: bool = Field(default=False, description="Issuance backed by workload attestation.")
    action: str | None = Field(default=None, description="credential.used: the operation.")
    resource: str | None = Field(default=None, description="credential.used: what it acted on.")
    outcome: Literal["success", "failure"] | None = Field(
        default=None, description="credential.used: success or failure."
    )
    purpose: str | None = Field(default=None, description="identity.*: what the identity is for.")
    context: Context = Field(default=EMPTY_CONTEXT, description="Where it happened.")
    attrs: dict[str, Any] = Field(default_factory=dict, description="Free-form; unknown fields land here.")

    @model_validator(mode="after")
    def _nhi_required(self) -> Event:
        # Runs for every event: the type is read once and the rules are exclusive.
        kind = self.type
        if kind in NHI_REQUIRED:
            if not self.nhi:
                raise ValueError(f"'nhi' is required on {kind.value}")
        elif kind is EventType.TASK_ENDED:
            if not self.task and not self.nhi:
                raise ValueError("task.ended needs 'task' (or 'nhi')")
        elif kind is EventType.CREDENTIAL_REVOKED:
            if not self.credential:
                raise ValueError("credential.revoked needs 'credential'")
        elif kind is EventType.OWNER_DEPARTED and not self.owner:
            raise ValueError("owner.departed needs 'owner'")
        return self

    # Helpers used on the hot path; kept as plain methods so they cost no validation.
    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.time, TYPE_ORDER[self.type], self.id)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


_KNOWN_FIELDS = frozenset(Event.model_fields)


def stable_id(record: dict[str, Any]) -> str:
    """A content hash of the record: replaying the same input yields the same ids."""
    blob = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


_CONTEXT_FIELDS = frozenset(CONTEXT_FIELDS)


def prepare_record(record: dict[str, Any]) -> dict[str, Any]:
    """Fold unknown fields (top level and in ``context``) into ``attrs`` and fill a stable
    ``id``; returns a new dict when anything changes."""
    unknown = record.keys() - _KNOWN_FIELDS  # set arithmetic runs in C; this is the hot path
    ctx = record.get("context")
    odd_ctx = isinstance(ctx, dict) and bool(ctx.keys() - _CONTEXT_FIELDS)
    if not unknown and not odd_ctx and record.get("id"):
        return record
    out = {k: v for k, v in record.items() if k in _KNOWN_FIELDS}
    if unknown or odd_ctx:
        attrs = dict(out["attrs"]) if isinstance(out.get("attrs"), dict) else {}
        for k in sorted(unknown):
            attrs.setdefault(k, record[k])
        if odd_ctx:
            assert isinstance(ctx, dict)
            out["context"] = {k: v for k, v in ctx.items() if k in _CONTEXT_FIELDS}
            attrs.setdefault("context", {k: v for k, v in ctx.items() if k not in _CONTEXT_FIELDS})
        out["attrs"] = attrs
    if not out.get("id"):
        out["id"] = stable_id(record)
    return out


def event_from_record(record: dict[str, Any]) -> Event:
    """Validate one native record; raises pydantic.ValidationError on contract violations."""
    return Event.model_validate(prepare_record(record))


def json_schema() -> dict[str, Any]:
    schema = Event.model_json_schema()
    schema["$id"] = f"https://nhi-evidence.dev/schema/event/v{CONTRACT_VERSION}.json"
    schema["title"] = f"nhi-evidence canonical event, contract v{CONTRACT_VERSION}"
    return schema
