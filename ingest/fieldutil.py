"""Small, total accessors for untrusted decoded JSON: they never raise on a wrong type.

Parsers read real exports where any field may be missing, null, or of another type (Panther test
records are trimmed by hand). Reading through these keeps a malformed record from turning into a
parser crash: the worst case is a missing value, which the parser then reports as a reject reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec

from pydantic import ValidationError

from contract.errors import RecordRejected
from contract.events import Event, stable_id
from ingest.native import describe_validation_error, sniff_native

P = ParamSpec("P")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """The value if it is a non-blank string, else ''. Numbers are not coerced: ids are strings."""
    return value.strip() if isinstance(value, str) else ""


def first_str(value: Any) -> str:
    """A string, or the first string of a list (Kubernetes ``user.extra`` values are lists)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.strip():
                return item.strip()
        return ""
    return as_str(value)


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def host_of(addr: str) -> str:
    """'10.0.0.1:5432' -> '10.0.0.1', '[::1]:80' -> '::1'; bare IPv4/IPv6 addresses pass through."""
    addr = addr.strip()
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else addr
    if addr.count(":") == 1:
        return addr.split(":", 1)[0]
    return addr


def short_hash(*parts: str) -> str:
    """A stable, unkeyed id for non-secret identifiers (serials, names, timestamps)."""
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def no_time(record_kind: str, fields: str) -> RecordRejected:
    return RecordRejected(f"{record_kind} has no usable timestamp ({fields})")


def new_event(fields: dict[str, Any]) -> Event:
    """``Event.model_validate(fields)`` without the wrapper's frame: the same full validation,
    called once per event on the hot path."""
    event: Event = Event.__pydantic_validator__.validate_python(fields)
    return event


def build(make: Callable[P, list[Event]], *args: P.args, **kwargs: P.kwargs) -> list[Event]:
    """Run an event builder, turning contract violations into a reject with the field named.
    Arguments are passed through, so callers need no closure per record."""
    try:
        return make(*args, **kwargs)
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc)) from None


def one_event(fields: dict[str, Any]) -> list[Event]:
    """``build(lambda: [new_event(fields)])`` without a closure per record."""
    try:
        return [new_event(fields)]
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc)) from None


def iso(ts: datetime) -> str:
    return ts.isoformat()


def record_id(record: Any) -> str:
    """``stable_id`` of a record; values JSON can't encode (ints past 64 bits) fall back to repr."""
    try:
        return stable_id(record)
    except TypeError:
        return hashlib.blake2b(repr(record).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def looks_native(value: Any) -> bool:
    """A native event record (other formats' sniffs must not claim one); never raises."""
    return isinstance(value, dict) and isinstance(value.get("type"), str) and sniff_native(value)
