"""Time arguments shared by nhi alerts and nhi export: an instant, or an age like 24h / 7d."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from contract.errors import ConfigError
from ingest.toolkit.times import parse_time

_AGO = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str | None, now: datetime | None = None) -> datetime | None:
    """'2026-05-01', '2026-05-01T12:00:00Z' or an age ('90m', '24h', '7d': that long before now)."""
    if value is None:
        return None
    text = value.strip()
    if m := _AGO.match(text):
        return (now or datetime.now(UTC)) - timedelta(seconds=float(m["n"]) * _UNITS[m["unit"]])
    parsed = parse_time(text if "T" in text or " " in text else text + "T00:00:00Z")
    if parsed is None:
        raise ConfigError(
            f"can't read {value!r} as a time: give e.g. 2026-05-01, 2026-05-01T12:00:00Z or 24h"
        )
    return parsed
