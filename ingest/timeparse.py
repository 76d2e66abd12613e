"""Tolerant timestamp and duration parsing shared by the log parsers.

Real exports bend RFC 3339: Panther rewrites ``2022-11-29T00:09:04.38Z`` as ``2022-11-29 00:09:04.38``
(no zone), Cloud Logging writes nanoseconds, OCSF uses epoch milliseconds and protobuf JSON uses
``{"seconds": ...}``. Timestamps without a zone are taken as UTC: every producer we read logs in UTC,
and refusing them would reject whole real datasets for a missing ``Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

# Fractions longer than microseconds (Go and Cloud Logging print nanoseconds) are cut to 6 digits.
_FRACTION = re.compile(r"(\.\d{6})\d+")
_UTC_SUFFIX = re.compile(r"\s*UTC$")
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def _first_group(m: re.Match[str]) -> str:
    # A function rather than the template r"\1": a template costs three Python calls in re per sub.
    return m.group(1)


def _from_epoch(value: float) -> datetime | None:
    # Guess the unit from the magnitude: seconds until 5138 AD, then milli-, then microseconds.
    if value > 1e14:
        value /= 1e6
    elif value > 1e11:
        value /= 1e3
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from a string, epoch number, protobuf Timestamp or datetime; else None."""
    if value is None:
        return None  # the commonest input after strings: parsers try optional fields in turn
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(float(value)) if value == value and value >= 0 else None
    if isinstance(value, dict):
        seconds = value.get("seconds")
        if isinstance(seconds, str) and seconds.strip().isdigit():
            seconds = int(seconds)
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            # Protobuf seconds are always seconds: no unit guessing (9999-12-31 is a real value here).
            try:
                base: datetime | None = datetime.fromtimestamp(float(seconds), UTC)
            except (OverflowError, OSError, ValueError):
                base = None
            nanos = value.get("nanos")
            if (
                base is not None
                and isinstance(nanos, int)
                and not isinstance(nanos, bool)
                and 0 <= nanos < 10**9
            ):
                base += timedelta(microseconds=nanos // 1000)
            return base
        return None
    return None


def _parse_text(value: str) -> datetime | None:
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.endswith(("Z", "z")):
        # RFC 3339 in UTC, what nearly every record carries: the general path below would only cut
        # the fraction and write the zone as +00:00 (neither later rewrite can match that ending).
        core = text[:-1]
        if "." in core:
            core = _FRACTION.sub(_first_group, core)
        try:
            utc = datetime.fromisoformat(core + "+00:00")
        except ValueError:
            return None
        return utc if utc.tzinfo is not None else utc.replace(tzinfo=UTC)
    if text.replace(".", "", 1).isdigit():
        return _from_epoch(float(text))
    if "." in text:
        text = _FRACTION.sub(_first_group, text)
    # Python < 3.12 wants a zone written as +HH:MM; some logs write +HHMM or a trailing ' UTC'.
    # (Each rewrite is tried only when the text ends the way its pattern needs.)
    if text.endswith("UTC"):
        text = _UTC_SUFFIX.sub("+00:00", text)
    if len(text) >= 5 and text[-5] in "+-":
        text = _COMPACT_OFFSET.sub(r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_seconds(value: Any) -> float | None:
    """A duration in seconds from ``3600``, ``"3600s"``, ``"3600"`` or ``{"seconds": 3600}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if 0 <= value < 1e10 else None
    if isinstance(value, dict):
        return parse_seconds(value.get("seconds"))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return parse_seconds(float(m.group(1)))
    return None


def add_seconds(start: datetime, seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return start + timedelta(seconds=seconds)
    except OverflowError:
        return None
