"""nhi run: the worker and the sink together, for a one-machine deployment."""

from __future__ import annotations

import argparse
import asyncio
import os

from nhi import console
from nhi.cmd_sink import query_port
from nhi.cmd_worker import add_worker_arguments, configure_logging, install_stop, print_stats
from nhi.common import add_db_argument, settings_from, warn_default_key
from nhi.kafka_args import add_kafka_arguments, topics_from
from streams.faust_app import Worker
from streams.worker import run_worker
from streams.worker_stats import WorkerStats, default_app_id
from transport.config import bootstrap_from, client_options, compression_from_env
from transport.observe import ObserveServer, metrics_port_from
from transport.sink import SinkStats, run_sink
from transport.sink_metrics import SinkMetrics

HELP = "Run the stream worker and the DuckDB sink together (one machine)."
DESCRIPTION = """\
`nhi worker` and `nhi sink` in one process: events on the events topic become findings, trust
scores and entity snapshots, and everything lands in the DuckDB store at --db. Feed it with
`nhi ingest`; query the store meanwhile with `nhi query --db PATH` (the sink serves it).

Both parts keep their guarantees: the worker's state is in Kafka changelogs, the sink stores
Kafka offsets with the rows, so a restart (or a crash) loses and duplicates nothing.
SIGTERM/SIGINT stop both cleanly; if either fails, the other is stopped and the exit status is 2.

examples:
  nhi run --bootstrap localhost:9092 --db evidence.duckdb
  nhi ingest --bootstrap localhost:9092 --format cloudtrail cloudtrail/*.json.gz   (another shell)"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_kafka_arguments(p)
    add_db_argument(p)
    add_worker_arguments(p)
    p.add_argument(
        "--group",
        "-g",
        default=os.environ.get("NHI_SINK_GROUP"),
        metavar="GROUP",
        help="the sink's consumer group (default: $NHI_SINK_GROUP or <topic prefix>sink)",
    )
    p.add_argument("--query-port", type=int, default=None, metavar="PORT", help="see nhi sink --help")
    p.add_argument("--no-query-server", action="store_true", help="don't serve queries while running")
    p.add_argument("--quiet", "-q", action="store_true", help="no final counts")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    port = query_port(args.query_port)
    settings = settings_from(args)
    warn_default_key(settings, "run")
    bootstrap = bootstrap_from(args.bootstrap)
    topics = topics_from(args)
    app_id = args.app_id or default_app_id(topics)
    group = args.group or f"{topics.prefix}sink"
    options = client_options()
    compression = compression_from_env()
    metrics_port = metrics_port_from(args.metrics_port)
    sink_metrics = SinkMetrics()
    servers: list[ObserveServer] = []

    def started(w: Worker) -> None:
        # One port for both: the worker's and the sink's metrics, and both health checks.
        if metrics_port is not None:
            checks = {"worker": w.health, "sink": sink_metrics.health}
            servers.append(
                ObserveServer(metrics_port, [w.metrics.registry, sink_metrics.registry], checks).start()
            )

    async def main() -> tuple[WorkerStats, SinkStats]:
        stop = asyncio.Event()
        install_stop(asyncio.get_running_loop(), stop)
        worker = asyncio.create_task(
            run_worker(
                bootstrap,
                topics,
                settings,
                stop,
                app_id=app_id,
                client_options=options,
                compression=compression,
                on_start=started,
            )
        )
        sink = asyncio.create_task(
            run_sink(
                bootstrap,
                args.db,
                topics,
                group,
                stop,
                options,
                query_port=None if args.no_query_server else port,
                fingerprint_key=settings.fingerprint_key,
                metrics=sink_metrics,
            )
        )
        # Whichever ends first (a failure, or both on a signal) stops the other; errors surface after.
        await asyncio.wait([worker, sink], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await asyncio.wait([worker, sink])
        return worker.result(), sink.result()

    console.err.print(f"nhi run: worker {app_id} and sink {group} on {bootstrap} -> {args.db}")
    try:
        worker_stats, sink_stats = asyncio.run(main())
    finally:
        for server in servers:
            server.stop()
    if not args.quiet:
        print_stats(worker_stats)
        console.out.print(
            f"stored: events {sink_stats.new_events} new  findings {sink_stats.findings}  trust {sink_stats.trust}  "
            f"entities {sink_stats.entities}  rejects {sink_stats.rejects}"
        )
    return 0
