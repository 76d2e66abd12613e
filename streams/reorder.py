"""Event-time ordering with bounded lateness.

Events are held until the newest event time seen has moved ``window`` past them, then released
in (time, type order, id) order - a total order that does not depend on arrival order, so any
interleaving of the same input within the window gives the same sequence. ``drain`` releases
everything (end of input, or an idle stream). The Kafka worker releases ``until`` a horizon its
watermarks give (``streams.watermarks``), and tags each event with the record it came in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from contract.events import TYPE_ORDER, Event

# (time, type order, id, nhi, arrival seq, event, tag); seq only separates exact duplicates,
# so comparisons never reach the event or the tag
_Item = tuple[float, int, str, str, int, Event, Any]


class ReorderBuffer:
    # A plain class rather than a dataclass: mutation testing (make mutate) skips decorated classes.
    __slots__ = ("heap", "late", "newest", "released_up_to", "seq", "window")

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.heap: list[_Item] = []
        self.newest: float | None = None
        self.late = 0  # events that arrived behind what was already released
        self.seq = 0
        self.released_up_to: float | None = None

    def push(self, nhi: str, event: Event, tag: Any = None, t: float | None = None) -> None:
        if t is None:
            t = event.time.timestamp()  # a float compares far faster than an aware datetime
        if self.released_up_to is not None and t < self.released_up_to:
            self.late += 1
        if self.newest is None or t > self.newest:
            self.newest = t
        self.seq += 1
        heapq.heappush(self.heap, (t, TYPE_ORDER[event.type], event.id, nhi, self.seq, event, tag))

    def ready(self) -> Iterator[tuple[str, Event]]:
        if self.newest is None:
            return
        horizon = self.newest - self.window.total_seconds()
        heap = self.heap
        while heap and heap[0][0] <= horizon:
            t, _, _, nhi, _, event, _ = heapq.heappop(heap)
            self.released_up_to = t
            yield nhi, event

    def drain(self) -> Iterator[tuple[str, Event]]:
        heap = self.heap
        while heap:
            t, _, _, nhi, _, event, _ = heapq.heappop(heap)
            self.released_up_to = t
            yield nhi, event

    def until(self, horizon: float) -> Iterator[tuple[str, Event, Any]]:
        """Release, in order, every event at or before ``horizon`` (+inf: everything), with its tag."""
        heap = self.heap
        pop = heapq.heappop
        while heap and heap[0][0] <= horizon:
            t, _, _, nhi, _, event, tag = pop(heap)
            self.released_up_to = t
            yield nhi, event, tag

    def __len__(self) -> int:
        return len(self.heap)
