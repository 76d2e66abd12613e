"""The one timestamp and duration parser of every format.

``parse_time`` returns an aware datetime in UTC, or None. Its rules, in order:

1. ``None``, booleans, NaN, infinities and values <= 0 are None (an epoch of 0 is a placeholder).
2. A ``datetime``: converted to UTC; a naive one is taken as UTC.
3. A number, or a string of 9 or more digits (one ``.`` allowed): epoch time, the unit told by the
   magnitude - seconds below 1e11 (until the year 5138), milliseconds below 1e14 (GitHub, OCSF),
   microseconds below 1e17, nanoseconds above.
4. A protobuf Timestamp ``{"seconds": ..., "nanos": ...}`` (seconds are always seconds).
5. A string (stripped, at most 64 characters) in ISO 8601 / RFC 3339 and the ways exports bend it:
   ``T`` or a space between date and time, seconds and fraction optional, a fraction of any length
   with ``.`` or ``,`` (cut to microseconds), a zone of ``Z``, ``z``, `` UTC``, ``+HH:MM``, ``+HHMM``
   or none (UTC: every producer we read logs in UTC, and refusing a missing ``Z`` would reject whole
   real datasets), a date alone (midnight UTC).
6. The Java / AWS console form ``Jun 2, 2024, 8:27:12 PM`` (STS expirations, IAM createDate), UTC.

Anything else - hour 24, day 31 of a short month, a year past 9999 - is None.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.errors import RecordRejected

_EPOCH_TEXT = re.compile(r"\d{9,}(?:\.\d+)?")
# Java/AWS console style, e.g. "Jun 2, 2024, 8:27:12 PM".
_US = re.compile(r"([A-Za-z]{3})[a-z]* (\d{1,2}),? (\d{4}),? (\d{1,2}):(\d{2}):(\d{2}) ?([AaPp][Mm])")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# What fromisoformat refuses but exports write: a fraction glued to the seconds
# ("00:00:00000000"), a lower-case z, " UTC", a space before the zone.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,]?(\d+))?)?\s*"
    r"(Z|z|UTC|[+-]\d{2}:?\d{2})?"
)
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*s?\s*")


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime, or None; the rules are in the module docstring."""
    if value is None:
        return None  # parsers try optional fields in turn: most are absent
    try:
        if isinstance(value, str):
            return _from_text(value)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return _from_epoch(float(value))
        if isinstance(value, dict):
            return _from_protobuf(value)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _from_epoch(number: float) -> datetime | None:
    if not math.isfinite(number) or number <= 0:
        return None
    if number >= 1e17:
        number /= 1e9
    elif number >= 1e14:
        number /= 1e6
    elif number >= 1e11:
        number /= 1e3
    return datetime.fromtimestamp(number, UTC)


def _from_protobuf(value: dict[str, Any]) -> datetime | None:
    seconds = value.get("seconds")
    if isinstance(seconds, str) and seconds.strip().isdigit():
        seconds = int(seconds)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return None
    base = datetime.fromtimestamp(float(seconds), UTC)
    nanos = value.get("nanos")
    if isinstance(nanos, int) and not isinstance(nanos, bool) and 0 <= nanos < 10**9:
        base += timedelta(microseconds=nanos // 1000)
    return base


def _from_text(value: str) -> datetime | None:
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text[0].isdigit() and text[-1].isdigit() and _EPOCH_TEXT.fullmatch(text):
        return _from_epoch(float(text))
    parsed: datetime | None
    try:
        # Python 3.11's parser reads RFC 3339 and most ISO 8601 forms (Z, any fraction length, +HHMM,
        # a space separator, a date alone) in C: nearly every record takes only this line.
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _bent(text)
        if parsed is None:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _bent(text: str) -> datetime | None:
    """The forms fromisoformat refuses (see ``_ISO``), and the console form."""
    m = _ISO.fullmatch(text)
    if m is not None:
        year, month, day, hh, mm, ss, frac, zone = m.groups()
        micro = int((frac or "0")[:6].ljust(6, "0"))
        out = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), micro, UTC)
        if zone and zone not in ("Z", "z", "UTC"):
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            out -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return out
    m = _US.fullmatch(text)
    if m is None:
        return None
    mon, day, year, hour, minute, sec, ampm = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        return None
    # Java's lenient 'h' accepts 0 and 12; both mean the first hour of the half-day.
    hour_no = int(hour) % 12 + (12 if ampm.lower() == "pm" else 0)
    return datetime(int(year), month, int(day), hour_no, int(minute), int(sec), tzinfo=UTC)


def require_time(value: Any, what: str) -> datetime:
    """``parse_time``, or a reject that names the field and shows the value."""
    parsed = parse_time(value)
    if parsed is None:
        raise RecordRejected(f"{what} is missing or not a timestamp (got {repr(value)[:40]})")
    return parsed


def parse_seconds(value: Any) -> float | None:
    """A duration in seconds from ``3600``, ``"3600s"``, ``"3600"`` or ``{"seconds": 3600}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if 0 <= value < 1e10 else None
    if isinstance(value, dict):
        return parse_seconds(value.get("seconds"))
    if isinstance(value, str):
        m = _DURATION.fullmatch(value)
        if m:
            return parse_seconds(float(m.group(1)))
    return None


# Over a century is not a lifetime anyone configured: a garbled field, treated as absent.
_MAX_SECONDS = 100 * 366 * 86400


def add_seconds(start: datetime, seconds: Any) -> datetime | None:
    """``start + seconds``; None for missing, negative or absurd durations (over 100 years).
    ``seconds`` may be a number or anything ``parse_seconds`` reads."""
    value = parse_seconds(seconds) if not isinstance(seconds, (int, float)) else seconds
    if value is None or isinstance(value, bool) or not math.isfinite(value) or not 0 <= value <= _MAX_SECONDS:
        return None
    try:
        return start + timedelta(seconds=int(value) if float(value).is_integer() else value)
    except OverflowError:
        return None
