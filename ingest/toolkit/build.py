"""Building a record's events: stable ids, contexts, validation turned into rejects.

Every event passes the contract's full pydantic validation here; a record whose values break
the contract becomes a reject naming the field, never a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, ParamSpec

import orjson
from pydantic import ValidationError

from contract.errors import RecordRejected
from contract.events import EMPTY_CONTEXT, Context, Event, EventType
from contract.identity import HUMAN, KIND_EVIDENCE, PRINCIPAL_KIND
from ingest.parsing import ParseContext
from ingest.secrets import scrub_all, scrub_free
from ingest.toolkit.fields import ip_or_none, text

P = ParamSpec("P")


_TYPES = frozenset(t.value for t in EventType)


# --- ids ----------------------------------------------------------------------------------------


def record_hash(record: Any, digest_size: int = 16) -> str:
    """A content hash of the record: re-reading the same record gives the same event ids.

    Vendor ids are not used as the basis because exported corpora reuse placeholders across
    different records (every Panther scenario event is ``eventID: "1"``), which would make the
    engine drop distinct events as re-deliveries. Values JSON can't encode (ints past 64 bits,
    lone surrogates) fall back to ``repr``.
    """
    try:
        blob = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError):
        blob = repr(record).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(blob, digest_size=digest_size).hexdigest()


def short_hash(*parts: str) -> str:
    """A stable, unkeyed id for non-secret identifiers (serials, names, timestamps)."""
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


# --- checks -------------------------------------------------------------------------------------


def require_dict(record: Any, fmt: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordRejected(f"{fmt}: expected a JSON object, got {type(record).__name__}")
    return record


def no_time(record_kind: str, fields: str) -> RecordRejected:
    return RecordRejected(f"{record_kind} has no usable timestamp ({fields})")


def looks_native(value: Any) -> bool:
    """A native event record (other formats' sniffs must not claim one); never raises."""
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    return isinstance(kind, str) and kind in _TYPES and "time" in value


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: 'field: message (got value)'. Input values are cut short."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"]
        got = err.get("input")
        if err["type"] == "missing" or isinstance(got, dict):
            parts.append(f"{loc}: {msg}")
        else:
            shown = repr(got)
            parts.append(f"{loc}: {msg} (got {shown[:60]}{'...' if len(shown) > 60 else ''})")
    return "; ".join(parts)


# --- events -------------------------------------------------------------------------------------


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


class Emitter:
    """Builds a record's events: shared source, id prefix and secret scrubbing."""

    def __init__(self, source: str, ctx: ParseContext, id_basis: str) -> None:
        self.source = source
        self.key = ctx.settings.fingerprint_key
        self.id_basis = id_basis
        self.events: list[Event] = []

    def emit(
        self,
        kind: EventType,
        time: datetime,
        suffix: str,
        *,
        attrs: dict[str, Any] | None = None,
        context: Context | None = None,
        human: bool = False,
        principal_kind: str | None = None,
        kind_evidence: str | None = None,
        **fields: Any,
    ) -> None:
        """One event of this record. ``principal_kind``/``kind_evidence``: what the record shows the
        principal to be (``contract.identity``); ``human=True`` is ``principal_kind="human"``."""
        clean = {k: v for k, v in (attrs or {}).items() if v is not None and v != ""}
        if human and principal_kind is None:
            principal_kind = HUMAN
        if principal_kind is not None:
            clean[PRINCIPAL_KIND] = principal_kind
            if kind_evidence:
                clean[KIND_EVIDENCE] = kind_evidence
        for name in ("resource", "action", "purpose"):
            if isinstance(fields.get(name), str):
                fields[name] = scrub_free(fields[name], self.key)
        try:
            # A dict through the validator costs less than keyword construction; still fully validated.
            event = new_event(
                {
                    "type": kind,
                    "time": time,
                    "id": f"{self.id_basis}:{suffix}",
                    "source": self.source,
                    "context": context or EMPTY_CONTEXT,
                    "attrs": scrub_all(clean, self.key),
                    **fields,
                }
            )
        except ValidationError as exc:
            raise RecordRejected(describe_validation_error(exc)) from None
        self.events.append(event)


def make_context(key: str, *, ip: Any = None, user_agent: Any = None, **fields: str | None) -> Context:
    agent = text(user_agent)
    address = ip_or_none(ip)
    extra = tuple((k, v) for k, v in fields.items() if v) if fields else ()
    size = len(agent) if agent else 0
    for _, v in extra:
        size += len(v or "")
    if size > _CONTEXT_CACHE_CHARS:
        return _context(key, address, agent, extra)  # odd sizes are not kept: the cache stays small
    # One caller sends the same address, agent and region record after record; a Context is frozen,
    # so those records can share one instead of validating and scrubbing the same values again.
    return _cached_context(key, address, agent, extra)


def _context(
    key: str, ip: str | None, agent: str | None, extra: tuple[tuple[str, str | None], ...]
) -> Context:
    return Context(ip=ip, user_agent=scrub_free(agent, key)[:512] if agent else None, **dict(extra))


_cached_context = lru_cache(maxsize=4096)(_context)
_CONTEXT_CACHE_CHARS = 1024
