"""Event time that flows with the data: watermarks, as dataflow engines keep them.

The worker's reorder buffers must not release an event while an older one may still be on its
way through another path (the resolver hop above all: a backfill routes a day of history per
second, so a by-identity partition's own newest event says nothing about what the resolver has
yet to send it). So every path carries marks:

* a source (the judge reading events partition ``i``) marks the newest event time it has read
  from ``i``; it is *idle* once ``i`` is read to its end and nothing came for ``idle_flush_s``;
* a resolver partition marks, to every by-identity partition, the minimum over its sources'
  marks, after it has forwarded every event that came before them (records are ordered within
  a partition, so a mark never overtakes the data it covers);
* a judge partition releases events only up to the minimum over its inputs, less the reorder
  window - the same bounded lateness as replay, now measured on the slowest input.

An idle input is left out of the minimum (so a quiet partition does not hold the others back);
when every input is idle, everything is released, as replay does at the end of its input. An
input not heard from yet holds everything back: nothing can be known about it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from transport.wire import Mark


@dataclass(slots=True)
class Channels:
    """The latest mark of each of ``sources`` inputs (partitions 0..sources-1) of one partition."""

    sources: int
    marks: dict[int, Mark] = field(default_factory=dict)

    def update(self, mark: Mark) -> bool:
        """Keep ``mark`` (its time never goes back); True when it changed anything."""
        old = self.marks.get(mark.source)
        newest = mark.newest
        if old is not None and old.newest is not None and (newest is None or newest < old.newest):
            newest = old.newest
        new = Mark(mark.source, newest, mark.idle)
        if new == old:
            return False
        self.marks[mark.source] = new
        return True

    def update_all(self, marks: Iterable[Mark]) -> bool:
        changed = False
        for m in marks:
            changed = self.update(m) or changed
        return changed

    def low(self) -> float:
        """The minimum over the inputs that are not idle; -inf while one is unheard, +inf if all idle."""
        low = math.inf
        for source in range(self.sources):
            m = self.marks.get(source)
            if m is None:
                return -math.inf
            if m.idle:
                continue
            if m.newest is None:
                return -math.inf
            if m.newest < low:
                low = m.newest
        return low

    def all_idle(self) -> bool:
        return len(self.marks) >= self.sources and all(
            self.marks.get(s, _UNHEARD).idle for s in range(self.sources)
        )

    def newest(self) -> float | None:
        times = [m.newest for m in self.marks.values() if m.newest is not None]
        return max(times) if times else None


_UNHEARD = Mark(-1, None, False)


@dataclass(slots=True)
class SourceClock:
    """What a source knows of the partition it reads: the newest event time, and when it last got a record."""

    partition: int
    newest: float | None = None
    last_arrival: float = 0.0  # monotonic seconds
    idle: bool = False

    def saw(self, times: Iterable[float], now: float) -> bool:
        """A record arrived with events at ``times``; True when the mark changed."""
        newest = self.newest
        for t in times:
            if newest is None or t > newest:
                newest = t
        changed = newest != self.newest or self.idle
        self.newest = newest
        self.last_arrival = now
        self.idle = False
        return changed

    def mark(self) -> Mark:
        return Mark(self.partition, self.newest, self.idle)
