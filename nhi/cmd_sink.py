"""nhi sink: consume the pipeline's topics into the DuckDB evidence store, exactly once."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from contract.errors import ConfigError
from contract.settings import load_settings
from nhi import console
from nhi.cmd_worker import add_metrics_argument
from nhi.common import add_db_argument, warn_default_key
from nhi.kafka_args import add_kafka_arguments, topics_from
from transport.config import bootstrap_from, client_options
from transport.observe import ObserveServer, metrics_port_from
from transport.sink import SinkStats, run_sink
from transport.sink_metrics import SinkMetrics

HELP = "Consume events, rejects, findings and trust from Kafka into the DuckDB store (exactly once)."
DESCRIPTION = """\
A consumer group that writes the events, DLQ rejects, findings, trust changes and entity
snapshots into the evidence store in Arrow batches. The consumed offsets are stored in the
same DuckDB transaction as the rows, and the sink seeks to them when it gets its partitions,
so a crash or restart neither loses nor duplicates anything. Kafka offsets are committed
after the DuckDB commit, for lag monitoring only.

While it runs the sink holds the store file; `nhi query --db PATH` still works: the sink
answers read-only queries on 127.0.0.1 (--query-port), announced in PATH.query.json.

examples:
  nhi sink --bootstrap localhost:9092 --db evidence.duckdb
  NHI_KAFKA_BOOTSTRAP=kafka:9092 nhi sink --db /data/evidence.duckdb --group nhi-sink-eu
  nhi query --db evidence.duckdb --named trust-leaderboard        (from another shell meanwhile)

Stops cleanly on SIGINT/SIGTERM: the batch in progress is stored and committed first.
exit status: 0 after a clean stop, 2 when Kafka or the store failed."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sink", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_kafka_arguments(p)
    add_db_argument(p)
    p.add_argument(
        "--group",
        "-g",
        default=os.environ.get("NHI_SINK_GROUP"),
        metavar="GROUP",
        help="consumer group (default: $NHI_SINK_GROUP or <topic prefix>sink)",
    )
    p.add_argument(
        "--query-port",
        type=int,
        default=None,
        metavar="PORT",
        help="loopback port of the read-only query server (default: $NHI_QUERY_PORT or 0 = any free port)",
    )
    p.add_argument("--no-query-server", action="store_true", help="don't serve queries while running")
    add_metrics_argument(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no start and final lines")
    p.set_defaults(run=run)


def query_port(given: int | None) -> int:
    # Read here, not as the argparse default: a bad variable must not break every nhi command's --help.
    if given is not None:
        return given
    raw = os.environ.get("NHI_QUERY_PORT", "").strip() or "0"
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"NHI_QUERY_PORT={raw!r} is not a port number")
    return int(raw)


def run(args: argparse.Namespace) -> int:
    port = query_port(args.query_port)
    bootstrap = bootstrap_from(args.bootstrap)
    topics = topics_from(args)
    group = args.group or f"{topics.prefix}sink"
    options = client_options()
    settings = load_settings()
    metrics_port = metrics_port_from(args.metrics_port)
    metrics = SinkMetrics()
    warn_default_key(settings, "sink")

    def ready(stats: SinkStats) -> None:
        if args.quiet:
            return
        where = (
            f"; queries on {stats.query_address[0]}:{stats.query_address[1]}" if stats.query_address else ""
        )
        console.err.print(
            f"sink: group {group} from {bootstrap} (prefix {topics.prefix}) -> {args.db}{where}"
        )

    async def main() -> SinkStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = None
        if metrics_port is not None:
            server = ObserveServer(metrics_port, [metrics.registry], {"sink": metrics.health}).start()
        try:
            return await run_sink(
                bootstrap,
                args.db,
                topics,
                group,
                stop,
                options,
                query_port=None if args.no_query_server else port,
                fingerprint_key=settings.fingerprint_key,
                on_ready=ready,
                metrics=metrics,
            )
        finally:
            if server is not None:
                server.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    stats = asyncio.run(main())
    if not args.quiet:
        console.err.print(
            f"sink stopped: {stats.records} records in {stats.batches} batches: events {stats.events} "
            f"(new {stats.new_events})  rejects {stats.rejects}  findings {stats.findings}  trust {stats.trust}  "
            f"entities {stats.entities}  undecodable {stats.undecodable}"
        )
    return 0
