"""A tiny language for engine tests: build native records, play them, look at the findings."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.events import Event, event_from_record
from contract.records import Finding
from contract.settings import Settings
from streams.engine import Engine, EngineState, Output

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def rec(kind: str, minute: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "time": at(minute), **fields}


def events(records: Iterable[dict[str, Any]]) -> list[Event]:
    return [event_from_record(r) for r in records]


def play(
    records: Iterable[dict[str, Any]],
    settings: Settings | None = None,
    state: EngineState | None = None,
    shuffle_seed: int | None = None,
) -> tuple[Output, Engine]:
    evs = events(records)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(evs)
    engine = Engine(settings or Settings(), state)
    out = Output()
    for e in evs:
        out.extend(engine.process(e))
    out.extend(engine.flush())
    return out, engine


def final(out: Output) -> dict[str, Finding]:
    """The latest version of each finding, by id."""
    latest: dict[str, Finding] = {}
    for f in out.findings:
        latest[f.finding_id] = f
    return latest


def summary(out: Output) -> set[tuple[str, str, str, str]]:
    """(detector, nhi, reason, status) of the latest version of each finding."""
    return {(f.detector, f.nhi, f.reason, f.status) for f in final(out).values()}


def registered(nhi: str, owner: str = "team-a", minute: float = 0, **kw: Any) -> dict[str, Any]:
    return rec("identity.registered", minute, nhi=nhi, owner=owner, **kw)
