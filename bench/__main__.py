"""Benchmarks, as ratios against a ceiling measured in the same run on the same input.

    python -m bench engine [--json] [--identities N] [--repeat K]
    python -m bench ingest [--json] [--records N] [--repeat K]
    python -m bench kafka [--json] [--events N] [--bootstrap HOST:PORT] [--profile FILE]
    python -m bench soak [--json] [--seconds S] [--kill-every K] [--rate R] [--bootstrap HOST:PORT]

Each stage prints one JSON line: {"stage", "events", "seconds", "events_per_s",
"ceiling_events_per_s", "ratio"}. Machines are noisy, so each figure is the best of K runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bench import engine_bench, ingest_bench, kafka_bench, soak_bench

SUITES: dict[str, Callable[[argparse.Namespace], list[dict[str, object]]]] = {
    "engine": engine_bench.run,
    "ingest": ingest_bench.run,
    "kafka": kafka_bench.run,
    "soak": soak_bench.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suite", choices=list(SUITES), help="which benchmark to run")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument("--identities", type=int, default=1200, help="size of the generated organisation")
    parser.add_argument("--records", type=int, default=20000, help="ingest: lines per format")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    parser.add_argument(
        "--events",
        type=int,
        default=150000,
        help="kafka: canonical events per phase (enough that fixed delays - start, marks, idle - don't dominate)",
    )
    parser.add_argument(
        "--bootstrap", default=None, help="kafka: local broker (default: $NHI_KAFKA_BOOTSTRAP)"
    )
    parser.add_argument("--profile", default=None, metavar="FILE", help="kafka: cProfile stats of the worker")
    parser.add_argument("--seconds", type=float, default=60.0, help="soak: seconds of streaming")
    parser.add_argument(
        "--kill-every", type=float, default=8.0, help="soak: seconds between SIGKILLs of the worker"
    )
    parser.add_argument("--rate", type=int, default=1000, help="soak: events/s offered")
    args = parser.parse_args(argv)
    rows = SUITES[args.suite](args)
    from bench.report import emit

    emit(rows, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
