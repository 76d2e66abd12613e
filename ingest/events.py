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
        if self.type in NHI_REQUIRED and not self.nhi:
            raise ValueError(f"'nhi' is required on {self.type.value}")
        if self.type is EventType.TASK_ENDED and not self.task and not self.nhi:
            raise ValueError("task.ended needs 'task' (or 'nhi')")
        if self.type is EventType.CREDENTIAL_REVOKED and not self.credential:
            raise ValueError("credential.revoked needs 'credential'")
        if self.type is EventType.OWNER_DEPARTED and not self.owner:
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


# --- collector fast path ------------------------------------------------------------------------
#
# A collector builds its events from values it has already parsed: strings, aware datetimes from
# its own time parser, enum members. Running those through pydantic again costs more than the rest
# of a small record's parse, so ``trusted_event`` checks in Python exactly what the contract
# requires of them and builds the model directly. Anything it is not certain of (a value of another
# type, a broken invariant) goes through full validation instead, so a mistake surfaces with
# pydantic's own message, never as a malformed event. tests/test_trusted_events.py holds every
# parser's output to full validation.

_object_setattr = object.__setattr__
_new_object = object.__new__
_NONE = type(None)
# The Python types each field takes as they are; any other value goes to full validation.
_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "type": (EventType,),
    "time": (datetime,),
    "id": (str,),
    "source": (str,),
    "nhi": (str, _NONE),
    "credential": (str, _NONE),
    "task": (str, _NONE),
    "owner": (str, _NONE),
    "expires_at": (datetime, _NONE),
    "method": (str, _NONE),
    "attested": (bool,),
    "action": (str, _NONE),
    "resource": (str, _NONE),
    "outcome": (str, _NONE),
    "purpose": (str, _NONE),
    "context": (Context,),
    "attrs": (dict,),
}
_OUTCOMES = frozenset({"success", "failure", None})
_STR_ONLY = frozenset({str})
_EVENT_DEFAULTS: dict[str, Any] = {
    name: (None if info.is_required() else info.get_default(call_default_factory=False))
    for name, info in Event.model_fields.items()
    if name != "attrs"
}
_CONTEXT_DEFAULTS: dict[str, Any] = dict.fromkeys(CONTEXT_FIELDS)


def _plain_fields_ok(fields: dict[str, Any]) -> bool:
    """True when every value is one pydantic would keep unchanged in its field (``time`` present)."""
    plain = _PLAIN_TYPES
    for name, value in fields.items():
        kinds = plain.get(name)
        if kinds is None or type(value) not in kinds:
            return False
    if fields["time"].utcoffset() is None or fields.get("outcome") not in _OUTCOMES:
        return False
    expires = fields.get("expires_at")
    if expires is not None and expires.utcoffset() is None:
        return False
    attrs = fields.get("attrs")
    return not attrs or set(map(type, attrs)) <= _STR_ONLY


def _invariants_hold(fields: dict[str, Any]) -> bool:
    """The checks of Event._nhi_required, on the raw fields."""
    kind = fields["type"]
    if kind in NHI_REQUIRED:
        return bool(fields.get("nhi"))
    if kind is EventType.TASK_ENDED:
        return bool(fields.get("task") or fields.get("nhi"))
    if kind is EventType.CREDENTIAL_REVOKED:
        return bool(fields.get("credential"))
    if kind is EventType.OWNER_DEPARTED:
        return bool(fields.get("owner"))
    return True


def trusted_event(fields: dict[str, Any]) -> Event:
    """The Event ``Event.model_validate(fields)`` returns, built without the validator when the
    fields are plainly valid; raises pydantic.ValidationError exactly as validation would."""
    if (
        "type" not in fields
        or "time" not in fields
        or not _plain_fields_ok(fields)
        or not _invariants_hold(fields)
    ):
        event: Event = Event.__pydantic_validator__.validate_python(fields)
        return event
    values = _EVENT_DEFAULTS.copy()
    values.update(fields)
    attrs = values.get("attrs")
    # Validation gives the event a dict of its own; so does this (callers may reuse theirs).
    values["attrs"] = {} if attrs is None else attrs.copy()
    made: Event = _new_object(Event)
    _object_setattr(made, "__dict__", values)
    _object_setattr(made, "__pydantic_fields_set__", set(fields))
    _object_setattr(made, "__pydantic_extra__", None)
    _object_setattr(made, "__pydantic_private__", None)
    return made


def trusted_context(**fields: str | None) -> Context:
    """``Context(**fields)`` for a collector's own values, on the same terms as trusted_event."""
    for name, value in fields.items():
        if (value is not None and type(value) is not str) or name not in _CONTEXT_DEFAULTS:
            return Context(**fields)
    values = _CONTEXT_DEFAULTS.copy()
    values.update(fields)
    made: Context = _new_object(Context)
    _object_setattr(made, "__dict__", values)
    _object_setattr(made, "__pydantic_fields_set__", set(fields))
    _object_setattr(made, "__pydantic_extra__", None)
    _object_setattr(made, "__pydantic_private__", None)
    return made


def event_from_record(record: dict[str, Any]) -> Event:
    """Validate one native record; raises pydantic.ValidationError on contract violations."""
    return Event.model_validate(prepare_record(record))


def json_schema() -> dict[str, Any]:
    schema = Event.model_json_schema()
    schema["$id"] = f"https://nhi-evidence.dev/schema/event/v{CONTRACT_VERSION}.json"
    schema["title"] = f"nhi-evidence canonical event, contract v{CONTRACT_VERSION}"
    return schema
