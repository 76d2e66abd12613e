"""Engine and replay throughput against a ceiling of orjson decode + a per-key dict update.

The ceiling is the least any pipeline must do with a line: decode it and touch per-identity
state. Rows, all on the same events:

    engine           the engine alone, as the Kafka worker runs it: canonical events decoded from
                     batch records (msgspec, the contract's rules), then resolution, ordering, the
                     detectors and the trust score
    collect+engine   the native collector first (JSON lines, pydantic's validation at the edge):
                     `nhi replay` without the store
    replay           the same plus the DuckDB writes
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.report import row
from contract.events import event_from_record
from contract.settings import Settings
from ingest.collect import Collector
from ingest.sources import read_lines
from store.store import Store
from streams.embedded import EmbeddedPipeline, relaxed_gc
from streams.engine import Engine
from synthetic import generate
from transport.wire import decode_batch, encode_batch


def make_lines(identities: int) -> list[bytes]:
    org = generate(seed=11, identities=identities)
    return [orjson.dumps(r) for r in org.records]


def ceiling(lines: list[bytes]) -> float:
    start = time.perf_counter()
    state: dict[Any, int] = {}
    loads = orjson.loads
    for line in lines:
        rec = loads(line)
        key = rec.get("nhi") or rec.get("task") or rec.get("credential") or rec.get("owner")
        state[key] = state.get(key, 0) + 1
    return time.perf_counter() - start


def wire_batches(lines: list[bytes], size: int = 1000) -> list[bytes]:
    """The lines' events as batch records, as `nhi ingest` puts them on the wire (not timed)."""
    events = [event_from_record(orjson.loads(line)) for line in lines]
    return [value for i in range(0, len(events), size) for value, _ in encode_batch(events[i : i + size])]


def engine_alone(batches: list[bytes]) -> tuple[float, int]:
    settings = Settings()
    start = time.perf_counter()
    engine = Engine(settings)
    opened = 0
    with relaxed_gc():
        for value in batches:
            out = engine.process_batch(decode_batch(value))
            opened += sum(1 for f in out.findings if f.activity == "create")
        out = engine.flush()
    opened += sum(1 for f in out.findings if f.activity == "create")
    return time.perf_counter() - start, opened


def engine_only(lines: list[bytes]) -> tuple[float, int]:
    settings = Settings()
    start = time.perf_counter()
    collector = Collector("native", settings)
    pipeline = EmbeddedPipeline(settings, None)
    pipeline.feed(collector.run(read_lines(lines, "bench")))
    stats = pipeline.finish()
    return time.perf_counter() - start, stats.findings_opened


def replay(lines: list[bytes]) -> tuple[float, int]:
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with Store.open(Path(tmp) / "bench.duckdb") as store:
            collector = Collector("native", settings)
            pipeline = EmbeddedPipeline(settings, store)
            pipeline.feed(collector.run(read_lines(lines, "bench")))
            stats = pipeline.finish()
        return time.perf_counter() - start, stats.findings_opened


def best(fn: Any, lines: list[bytes], repeat: int) -> tuple[float, Any]:
    results = [fn(lines) for _ in range(max(1, repeat))]
    if isinstance(results[0], tuple):
        return min(results, key=lambda r: r[0])  # type: ignore[no-any-return]
    return min(results), None


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    lines = make_lines(args.identities)
    n = len(lines)
    ceil_s, _ = best(ceiling, lines, args.repeat)
    ceil_rate = n / ceil_s
    batches = wire_batches(lines)
    alone_s, alone_findings = best(engine_alone, batches, args.repeat)
    eng_s, findings = best(engine_only, lines, args.repeat)
    rep_s, _ = best(replay, lines, max(1, args.repeat - 1))
    return [
        row("engine", n, alone_s, ceil_rate, findings=alone_findings, goal_ratio=0.2),
        row("collect+engine", n, eng_s, ceil_rate, findings=findings),
        row("replay", n, rep_s, ceil_rate, findings=findings),
    ]
