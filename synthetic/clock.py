"""Formatting the simulation's millisecond offsets as RFC 3339 times, fast."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """Millisecond offsets -> RFC 3339 UTC strings, fast: the date-hour-minute prefix is cached
    per minute, since formatting a datetime per record is a good part of generation time."""

    def __init__(self, start: datetime) -> None:
        utc = start.astimezone(UTC)
        self.epoch_ms = round(utc.timestamp() * 1000)
        self._prefix: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        minute, rest = divmod(self.epoch_ms + ms, 60_000)
        prefix = self._prefix.get(minute)
        if prefix is None:
            prefix = self._prefix[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime(
                "%Y-%m-%dT%H:%M:"
            )
        sec, milli = divmod(rest, 1000)
        return f"{prefix}{sec:02d}.{milli:03d}Z"
