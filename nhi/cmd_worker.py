"""nhi worker: the Kafka stream processor (the faust app in streams/faust_app.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from nhi import console
from nhi.common import add_network_arguments, settings_from
from nhi.kafka_args import add_kafka_arguments, topics_from
from streams.worker import run_worker
from streams.worker_stats import WorkerStats, default_app_id
from transport.config import bootstrap_from, client_options, compression_from_env

HELP = "Run the stream worker: events -> per-NHI detectors -> findings and trust topics."
DESCRIPTION = """\
Consume canonical events from the events topic, route them to the NHIs they concern (through
the task, credential and owner indexes), order each NHI's events by event time, and run the
same detectors and trust score as `nhi replay`. Finding changes go to the findings topic,
trust changes (with the identity snapshot) to the trust topic, credential and task snapshots
to the entities topic; `nhi sink` stores them. Events that aren't canonical go to the DLQ.

State lives in Kafka (changelog topics), so a restarted worker resumes where it stopped;
several workers with the same --app-id share the partitions. SIGTERM/SIGINT stop it cleanly.

examples:
  nhi worker --bootstrap localhost:9092
  NHI_REORDER_WINDOW_S=60 nhi worker --app-id nhi-worker-eu

environment: NHI_KAFKA_BOOTSTRAP, NHI_TOPIC_PREFIX, NHI_TOPIC_PARTITIONS, NHI_KAFKA_* (TLS, SASL),
NHI_WORKER_APP_ID, NHI_IDLE_FLUSH_S and the detector settings (see nhi replay)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_kafka_arguments(p)
    add_worker_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no final counts")
    p.set_defaults(run=run)


def add_worker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--app-id",
        default=os.environ.get("NHI_WORKER_APP_ID"),
        help="consumer group and changelog topic prefix (default: $NHI_WORKER_APP_ID or <topic prefix>worker)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log faust and Kafka client messages")
    add_network_arguments(p)


def configure_logging(verbose: bool) -> None:
    # faust, mode and aiokafka are chatty at INFO; warnings (and our own errors) still show.
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def install_stop(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    settings = settings_from(args)
    bootstrap = bootstrap_from(args.bootstrap)
    topics = topics_from(args)
    app_id = args.app_id or default_app_id(topics)
    options = client_options()
    compression = compression_from_env()

    async def main() -> WorkerStats:
        stop = asyncio.Event()
        install_stop(asyncio.get_running_loop(), stop)
        return await run_worker(
            bootstrap,
            topics,
            settings,
            stop,
            app_id=app_id,
            client_options=options,
            compression=compression,
            on_start=lambda _: print(f"nhi worker: running ({app_id} on {bootstrap})", file=sys.stderr),
        )

    stats = asyncio.run(main())
    if not args.quiet:
        print_stats(stats)
    return 0


def print_stats(stats: WorkerStats) -> None:
    console.out.print(
        f"events {stats.events}  rejects {stats.rejects}  judged {stats.judged}  findings {stats.findings}  "
        f"trust changes {stats.trust}  late {stats.late}  skipped on resume {stats.skipped}  "
        f"held for re-read {stats.held}"
    )
