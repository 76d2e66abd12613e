"""The canonical event: native contract v1.

Every collector turns its records into these; the engine and the store read nothing else.
Unknown top-level fields are kept in ``attrs`` rather than refused, so producers can add
fields without breaking older pipelines.

``Event`` and ``Context`` are frozen, slotted dataclasses. pydantic validates input straight into
them at the edge (``event_from_record``, the collectors' ``new_event``) and gives the JSON Schema;
msgspec decodes the pipeline's own wire batches into the same classes (``transport.codec``). One
object per event from the collector to the store, and inside the engine attribute reads cost what
a plain object's do: a pydantic model's cost about 10x more, because its ``__getattr__`` keeps
CPython from specialising them, and the engine reads dozens per event (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import ConfigDict, Field, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import CoreSchema

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


class _Aware:
    """pydantic's AwareDatetime check as Annotated metadata, so the type stays ``datetime`` for msgspec."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema: Any = handler(source)
        schema["tz_constraint"] = "aware"
        return schema  # type: ignore[no-any-return]


# An aware datetime for both validators (checked in their C cores: this is the hot path).
AwareTime = Annotated[datetime, _Aware(), msgspec.Meta(tz=True)]


class _Dumpable:
    """The few pydantic-style helpers collectors and tests use, on the dataclasses."""

    __slots__ = ()

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {k: v for k, v in d.items() if v is not None} if exclude_none else d

    def model_copy(self, *, update: dict[str, Any]) -> Any:
        return dataclasses.replace(self, **update)  # type: ignore[type-var]


@dataclass(frozen=True, slots=True)
class Context(_Dumpable):
    """Where the event happened. All optional; collectors fill what their source records."""

    __pydantic_config__ = ConfigDict(extra="forbid")

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


def _doc(text: str) -> Any:
    return Field(description=text)


@dataclass(frozen=True, slots=True)
class Event(_Dumpable):
    """One canonical NHI event (contract v1)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    type: Annotated[EventType, _doc("What happened.")]
    # The aware datetime and the Literal are checked in pydantic's core, not in Python: the hot path.
    time: Annotated[AwareTime, _doc("RFC 3339 event time (a timezone is required).")]
    id: Annotated[str, _doc("Stable event id; when absent, a hash of the record.")] = ""
    source: Annotated[str, _doc("Which collector produced the event.")] = "native"
    nhi: Annotated[
        str | None,
        _doc(
            "The identity, e.g. k8s:prod/payments/ledger, aws:123456789012:role/ci-deployer, "
            "spiffe://example.org/ns/analytics/sa/etl."
        ),
    ] = None
    credential: Annotated[str | None, _doc("Credential id or fingerprint, never the secret.")] = None
    task: Annotated[str | None, _doc("Task id: pod, job, CI run, agent session.")] = None
    owner: Annotated[str | None, _doc("Owner id (identity.*, owner.departed).")] = None
    expires_at: Annotated[AwareTime | None, _doc("Credential or identity expiry; absent = never.")] = None
    method: Annotated[str | None, _doc("Issuance method, e.g. k8s-bound-token, sts-assume-role.")] = None
    attested: Annotated[bool, _doc("Issuance backed by workload attestation.")] = False
    action: Annotated[str | None, _doc("credential.used: the operation.")] = None
    resource: Annotated[str | None, _doc("credential.used: what it acted on.")] = None
    outcome: Annotated[Literal["success", "failure"] | None, _doc("credential.used: success or failure.")] = (
        None
    )
    purpose: Annotated[str | None, _doc("identity.*: what the identity is for.")] = None
    context: Annotated[Context, _doc("Where it happened.")] = EMPTY_CONTEXT
    attrs: Annotated[dict[str, Any], _doc("Free-form; unknown fields land here.")] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        # Run by both validators (pydantic and msgspec turn the ValueError into their error);
        # the type is read once and the rules are exclusive.
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

    # Helpers used on the hot path; plain methods, no validation.
    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.time, TYPE_ORDER[self.type], self.id)

    def to_json_dict(self) -> dict[str, Any]:
        """The event as JSON values, fields at their defaults left out (the native record form)."""
        out: dict[str, Any] = {}
        for name, default in _DEFAULTS:
            value = getattr(self, name)
            if value is default or (value == default and type(value) is type(default)):
                continue
            if isinstance(value, datetime):
                value = _rfc3339(value)
            elif name == "type":
                value = value.value
            elif name == "context":
                value = {k: v for k in CONTEXT_FIELDS if (v := getattr(value, k)) is not None}
                if not value:
                    continue
            out[name] = value
        return out

    def model_dump_json(self) -> str:
        return orjson.dumps(self.to_json_dict(), default=str).decode()


_MISSING = object()
# (field, default) in declaration order; a required field's default never matches
_DEFAULTS: tuple[tuple[str, Any], ...] = tuple(
    (
        f.name,
        f.default
        if f.default is not dataclasses.MISSING
        else ({} if f.default_factory is not dataclasses.MISSING else _MISSING),
    )
    for f in dataclasses.fields(Event)
)


def _rfc3339(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
# The adapter's core validator: collectors call it once per event, without the wrapper's frame.
EVENT_VALIDATOR = EVENT_ADAPTER.validator


def validate_event(fields: dict[str, Any]) -> Event:
    """The contract's full validation of one record's fields (pydantic.ValidationError if broken)."""
    event: Event = EVENT_VALIDATOR.validate_python(fields)
    return event


def validate_event_json(data: bytes) -> Event:
    """One native event as JSON, validated strictly (unknown fields are an error here)."""
    event: Event = EVENT_VALIDATOR.validate_json(data)
    return event


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Event))
_KNOWN_FIELDS = frozenset(FIELD_NAMES)


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
    return validate_event(prepare_record(record))


def json_schema() -> dict[str, Any]:
    schema = EVENT_ADAPTER.json_schema()
    schema["$id"] = f"https://nhi-evidence.dev/schema/event/v{CONTRACT_VERSION}.json"
    schema["title"] = f"nhi-evidence canonical event, contract v{CONTRACT_VERSION}"
    return schema
