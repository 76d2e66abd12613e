"""Shared plumbing for the vendor log parsers (CloudTrail, Vault, Entra, Okta, GitHub).

Every accessor here is total: vendor exports are hand-trimmed, re-keyed and re-typed in the wild
(Panther lower-cases whole objects, writes times without zones, drops fields), so a parser reads
through these and the worst a malformed record can do is produce a ``RecordRejected``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from pydantic import ValidationError

from contract.errors import RecordRejected
from contract.events import EMPTY_CONTEXT, Context, Event, EventType
from ingest.fieldutil import as_dict, as_list, new_event
from ingest.native import describe_validation_error
from ingest.parsing import ParseContext
from ingest.secrets import scrub_all, scrub_free

# Set on every event whose subject is a person rather than a machine. The engine reads exactly
# this (streams/state.py) and never judges such an identity as an unowned actor.
PRINCIPAL_KIND = "principal_kind"
HUMAN = "human"

# The vendor parsers' short names for fieldutil's total accessors.
d = as_dict
lst = as_list


def s(value: Any) -> str | None:
    """A non-blank string; integers are accepted because some exports type account ids as numbers."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def ci(obj: Any, *names: str) -> Any:
    """The first present key among ``names``, compared case-insensitively (Panther lower-cases keys)."""
    if not isinstance(obj, dict):
        return None
    for name in names:
        value = obj.get(name, _MISSING)
        if value is not _MISSING:
            return value
    if not obj:
        return None
    # A miss (an optional field that is absent) is the common case. Records of one kind share their
    # key sets, so the lower-cased key map is kept per key set rather than rebuilt on every miss;
    # it maps to the key, and the value is read from this record.
    shape = tuple(obj)
    lowered = _LOWERED.get(shape) if len(shape) <= _SHAPE_MAX else None
    if lowered is None:
        lowered = {k.lower(): k for k in shape if isinstance(k, str)}
        # Only ordinary shapes are kept (few, short keys) and only so many: hostile records can't
        # pin much memory here.
        if len(shape) <= _SHAPE_MAX and all(len(k) <= _KEY_MAX for k in lowered):
            if len(_LOWERED) >= _LOWERED_MAX:
                _LOWERED.clear()
            _LOWERED[shape] = lowered
    for name in names:
        found = lowered.get(name.lower(), _MISSING)
        if found is not _MISSING:
            return obj[found]
    return None


_LOWERED: dict[tuple[Any, ...], dict[str, Any]] = {}
_LOWERED_MAX = 2048
_SHAPE_MAX = 64
_KEY_MAX = 64
_MISSING: Any = object()


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = ci(obj, key)
        if obj is None:
            return None
    return obj


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,15}\s*", value):
        return int(value)
    return None


def truthy(value: Any) -> bool:
    """Booleans arrive as true, "true", "True" or 1 depending on the exporter."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return value is True or (isinstance(value, int) and value == 1)


def ip_or_none(value: Any) -> str | None:
    """Only real addresses go to ``context.ip``: CloudTrail writes service names
    (``lambda.amazonaws.com``) there, and those must not look like a new network location."""
    text = s(value)
    if text is None:
        return None
    # Callers repeat their addresses from record to record, and ipaddress parses in pure Python.
    # Anything longer than an address with a port is parsed uncached, so the cache stays small.
    return _cached_ip(text) if len(text) <= 64 else _canonical_ip(text)


def _canonical_ip(text: str) -> str | None:
    if text.startswith("[") and "]" in text:  # "[::1]:8200"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "10.0.0.1:8200"
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


_cached_ip = lru_cache(maxsize=4096)(_canonical_ip)


# --- time -------------------------------------------------------------------------------------

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,]?(\d+))?)?\s*"
    r"(Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)
# A strict subset of _ISO (ASCII digits, seconds present, '.' fraction, Z or +HH:MM) that
# datetime.fromisoformat reads to the same instant.
_PLAIN_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)?", re.ASCII)
# Java/AWS console style, e.g. "Jun 2, 2024, 8:27:12 PM" (STS expiration, IAM createDate).
_US = re.compile(r"^([A-Za-z]{3})[a-z]* (\d{1,2}),? (\d{4}),? (\d{1,2}):(\d{2}):(\d{2}) ?([AaPp][Mm])$")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from RFC 3339 and its common bendings, epoch seconds/millis, or the
    AWS console format. Zone-less values are UTC: every source here logs in UTC."""
    if value is None:
        return None  # parsers try optional fields in turn: most are absent
    try:
        return _parse_time(value)
    except (ValueError, OverflowError, OSError):
        return None


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        if number != number or number <= 0:
            return None
        # Magnitude tells the unit: GitHub writes milliseconds, others seconds.
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if _PLAIN_ISO.fullmatch(text):
        # The shape nearly every record has: the C parser, then the same normalisation to UTC.
        # Anything it refuses (hour 24, day 31 of a short month) takes the general path below.
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    if re.fullmatch(r"\d{9,}(\.\d+)?", text):
        return _parse_time(float(text))
    m = _ISO.match(text)
    if m:
        year, month, day, hh, mm, ss, frac, zone = m.groups()
        micro = int((frac or "0")[:6].ljust(6, "0"))
        out = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), micro, UTC)
        if zone and zone not in ("Z", "z", "UTC"):
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            out -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return out
    m = _US.match(text)
    if m:
        mon, day, year, hour, minute, sec, ampm = m.groups()
        month_no = _MONTHS.get(mon.lower())
        if month_no is None:
            return None
        # Java's lenient 'h' accepts 0 and 12; both mean the first hour of the half-day.
        hour_no = int(hour) % 12 + (12 if ampm.lower() == "pm" else 0)
        return datetime(int(year), month_no, int(day), hour_no, int(minute), int(sec), tzinfo=UTC)
    return None


def add_seconds(start: datetime, seconds: Any) -> datetime | None:
    """``start + seconds``; None for missing, negative or absurd durations (over 100 years)."""
    if isinstance(seconds, float):
        value: int | None = int(seconds) if seconds == seconds and abs(seconds) < 1e12 else None
    else:
        value = as_int(seconds)
    if value is None or value < 0 or value > 100 * 366 * 86400:
        return None
    try:
        return start + timedelta(seconds=value)
    except OverflowError:
        return None


# --- ids and building events -------------------------------------------------------------------


def record_hash(record: Any) -> str:
    """A content hash of the record: re-reading the same record gives the same event ids.

    Vendor ids are not used as the basis because exported corpora reuse placeholders across
    different records (every Panther scenario event is ``eventID: "1"``), which would make the
    engine drop distinct events as re-deliveries.
    """
    try:
        blob = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError):  # non-UTF-8 strings or non-JSON values from a caller
        blob = repr(record).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


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
        **fields: Any,
    ) -> None:
        clean = {k: v for k, v in (attrs or {}).items() if v is not None and v != ""}
        if human:
            clean[PRINCIPAL_KIND] = HUMAN
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
    agent = s(user_agent)
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


def require_time(value: Any, what: str) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        shown = repr(value)[:40]
        raise RecordRejected(f"{what} is missing or not a timestamp (got {shown})")
    return parsed


def require_dict(record: Any, fmt: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordRejected(f"{fmt}: expected a JSON object, got {type(record).__name__}")
    return record
