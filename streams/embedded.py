"""The embedded pipeline: collector output -> engine -> DuckDB store, in one process.

Work is done in chunks of ``batch_size`` events: events already in the store are skipped (so a
replay of the same input is idempotent), the rest go through the engine, and the chunk's
events, rejects, findings, trust changes and entity snapshots are written in one transaction.
The engine state is saved with the last chunk, so the next replay continues the same history.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from contract.errors import StoreError
from contract.events import Event
from contract.records import Finding
from contract.rejects import Reject
from contract.settings import Settings
from store.batch import Batch
from store.store import Store
from streams.engine import Engine, EngineState, Output

STATE_NAME = "embedded"


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Collect cyclic garbage less often while streaming: the pipeline allocates many short-lived,
    acyclic objects, and the default thresholds spend a fifth of the run rescanning the engine's
    growing (and long-lived) state."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _saved_state(blob: bytes, store: Store | None) -> EngineState:
    try:
        return EngineState.loads(blob)
    except ValueError as exc:
        where = store.path if store is not None else "the store"
        raise StoreError(
            f"{where}: the saved engine state was written by another version of nhi-evidence ({exc}); "
            "replay your logs into a new store"
        ) from None


@dataclass(slots=True)
class RunStats:
    events: int = 0  # canonical events read
    new_events: int = 0  # not seen before (the rest were already stored)
    rejects: int = 0
    findings_opened: int = 0
    finding_changes: int = 0
    trust_changes: int = 0
    late_events: int = 0
    seconds: float = 0.0
    by_detector: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.events - self.new_events


class EmbeddedPipeline:
    """Feed it events and rejects; call ``finish`` once. ``store=None`` runs without storage."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        *,
        on_finding: Callable[[Finding], None] | None = None,
        on_progress: Callable[[RunStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        blob = store.load_engine_state(STATE_NAME) if store is not None else None
        self.engine = Engine(settings, _saved_state(blob, store) if blob else None)
        self.on_finding = on_finding
        self.on_progress = on_progress
        self.stats = RunStats()
        self._events: list[Event] = []
        self._rejects: list[Reject] = []
        self._skipped: dict[tuple[str, str, str], int] = {}
        self._started = time.perf_counter()

    def feed(self, items: Iterable[Event | Reject]) -> None:
        with relaxed_gc():
            self._feed(items)

    def _feed(self, items: Iterable[Event | Reject]) -> None:
        size = self.settings.batch_size
        for item in items:
            if isinstance(item, Event):
                self._events.append(item)
                if len(self._events) >= size:
                    self._flush_chunk(final=False)
            else:
                self._rejects.append(item)
                if len(self._rejects) >= size:
                    self._flush_chunk(final=False)

    def finish(self, skipped: dict[tuple[str, str, str], int] | None = None) -> RunStats:
        """End of input: judge what is held for ordering and store it with the engine's state, and
        ``skipped`` (records about no NHI, per input, source and reason) with it."""
        self._skipped = dict(skipped or {})
        self._flush_chunk(final=True)
        self.stats.late_events = self.engine.buffer.late
        self.stats.seconds = time.perf_counter() - self._started
        return self.stats

    def _flush_chunk(self, *, final: bool) -> None:
        events, self._events = self._events, []
        rejects, self._rejects = self._rejects, []
        stats = self.stats
        stats.events += len(events)
        stats.rejects += len(rejects)
        fresh = events
        if self.store is not None and events:
            known = self.store.known_event_ids(e.id for e in events)
            if known:
                fresh = [e for e in events if e.id not in known]
        stats.new_events += len(fresh)
        out = self.engine.process_batch(fresh)
        if final:
            out.extend(self.engine.flush())
        self._account(out)
        if self.store is not None:
            batch = Batch(
                events=fresh,
                rejects=rejects,
                findings=out.findings,
                trust=out.trust,
                snapshots=self.engine.drain_snapshots(),
                engine_state={STATE_NAME: self.engine.state.dumps()} if final else None,
                skipped=self._skipped if final else {},
            )
            if batch:
                self.store.write(batch)
        if self.on_progress is not None:
            self.on_progress(stats)

    def _account(self, out: Output) -> None:
        stats = self.stats
        stats.finding_changes += len(out.findings)
        stats.trust_changes += len(out.trust)
        for f in out.findings:
            if f.activity == "create":
                stats.findings_opened += 1
                stats.by_detector[f.detector] = stats.by_detector.get(f.detector, 0) + 1
            if self.on_finding is not None:
                self.on_finding(f)
