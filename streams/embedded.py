"""The embedded pipeline: collector output -> engine -> DuckDB store, in one process.

Work is done in chunks of ``batch_size`` events: events already in the store are skipped (so a
replay of the same input is idempotent), the rest go through the engine, and the chunk's
events, rejects, findings, trust changes and entity snapshots are written in one transaction.

The engine state (with the events it still holds for ordering) is saved with the first chunk,
at every ``checkpoint`` (the end of each input file) and with the last chunk, so the next replay
continues the same history, and a run stopped by Ctrl-C or a crash keeps every finished file.
Chunks written between two checkpoints are stored but not yet part of a saved state: the state
records when it was saved, and a later run sends the events stored after that time through the
engine again (the store's keys make those writes no-ops), so nothing is stored twice and no
stored event goes unjudged.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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


_US = timedelta(microseconds=1)


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
    new_events: int = 0  # stored by this run (the rest were stored already, or repeated in the input)
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
        state = _saved_state(blob, store) if blob else None
        self.engine = Engine(settings, state)
        # Stored events ingested after this were not judged by the saved state (see the module
        # doc); None: no saved state, so events in the store came from elsewhere (the Kafka sink).
        self._judged_until = state.saved_at if state is not None else None
        self._has_state = state is not None
        # Every write of this run is stamped after this, so this run's own rows are never
        # mistaken for rows an earlier run left unjudged.
        self._started_at = datetime.now(UTC)
        self._last_write = self._started_at
        self.writes = 0  # batches committed by this pipeline
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

    def checkpoint(self, skipped: dict[tuple[str, str, str], int] | None = None) -> None:
        """Make everything fed so far durable, with the engine state and ``skipped`` (the counts so
        far, which the store upserts): the end of an input file."""
        self._skipped = dict(skipped or {})
        self._flush_chunk(final=False, save=True)

    def finish(self, skipped: dict[tuple[str, str, str], int] | None = None) -> RunStats:
        """End of input: judge what is held for ordering and store it with the engine's state, and
        ``skipped`` (records about no NHI, per input, source and reason) with it."""
        self._skipped = dict(skipped or {})
        self._flush_chunk(final=True)
        self.stats.late_events = self.engine.buffer.late
        self.stats.seconds = time.perf_counter() - self._started
        return self.stats

    def _flush_chunk(self, *, final: bool, save: bool = False) -> None:
        events, self._events = self._events, []
        rejects, self._rejects = self._rejects, []
        stats = self.stats
        stats.events += len(events)
        stats.rejects += len(rejects)
        judge, store_new = self._split(_first_of_each(events))
        out = self.engine.process_batch(judge)
        if final:
            out.extend(self.engine.flush())
        self._account(out)
        if self.store is None:
            stats.new_events += len(store_new)
        else:
            save = save or final or not self._has_state
            ingested_at = self._write_time()
            state = self.engine.state
            if save:
                state.saved_at = ingested_at
            batch = Batch(
                events=store_new,
                ingested_at=ingested_at,
                rejects=rejects,
                findings=out.findings,
                trust=out.trust,
                snapshots=self.engine.drain_snapshots(),
                engine_state={STATE_NAME: state.dumps()} if save else None,
                skipped=self._skipped if save else {},
            )
            if batch:
                written = self.store.write(batch)
                stats.new_events += written.events
                self.writes += 1
                self._last_write = ingested_at
                if save:
                    self._has_state = True
        if self.on_progress is not None:
            self.on_progress(stats)

    def _split(self, events: list[Event]) -> tuple[list[Event], list[Event]]:
        """(events for the engine, events to store): stored events are judged again only when
        they were stored after the saved state (a run that stopped between checkpoints)."""
        if self.store is None or not events:
            return events, events
        stored = self.store.stored_events(e.id for e in events)
        if not stored:
            return events, events
        until, started = self._judged_until, self._started_at
        if until is None:
            # no saved state with a time: what is stored was judged where it was stored (the sink)
            judge = [e for e in events if e.id not in stored]
        else:
            judge = [e for e in events if (t := stored.get(e.id)) is None or until < t < started]
        return judge, [e for e in events if e.id not in stored]

    def _write_time(self) -> datetime:
        """Now, but always after the previous write: the judged/unjudged split compares these."""
        now = datetime.now(UTC)
        last = self._last_write
        return now if now > last else last + _US

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


def _first_of_each(events: list[Event]) -> list[Event]:
    """An event repeated within the input is judged and counted once."""
    seen: set[str] = set()
    out = []
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            out.append(e)
    return out
