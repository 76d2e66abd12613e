"""nhi worker: the Kafka stream processor (the faust app in streams/faust_app.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys

from contract.errors import ConfigError
from nhi import console
from nhi.common import add_network_arguments, settings_from
from nhi.kafka_args import add_kafka_arguments, topics_from
from streams.faust_app import Worker
from streams.worker import run_worker
from streams.worker_stats import WorkerStats, default_app_id
from transport.config import bootstrap_from, client_options, compression_from_env
from transport.observe import ObserveServer, metrics_port_from

HELP = "Run the stream worker: events -> per-NHI detectors -> findings and trust topics."
DESCRIPTION = """\
Consume canonical events from the events topic, route them to the NHIs they concern (through
the task, credential and owner indexes), order each NHI's events by event time, and run the
same detectors and trust score as `nhi replay`. Finding changes go to the findings topic,
trust changes (with the identity snapshot) to the trust topic, credential and task snapshots
to the entities topic; `nhi sink` stores them. Events that aren't canonical go to the DLQ.

State lives in Kafka (changelog topics), so a restarted worker resumes where it stopped;
several workers with the same --app-id share the partitions, on one host (--processes N, one
per core) or across hosts (start one on each). SIGTERM/SIGINT stop it cleanly.

examples:
  nhi worker --bootstrap localhost:9092
  nhi worker --processes 2 --metrics-port 9464      (ports 9464, 9465: /metrics and /healthz)
  NHI_REORDER_WINDOW_S=60 nhi worker --app-id nhi-worker-eu

environment: NHI_KAFKA_BOOTSTRAP, NHI_TOPIC_PREFIX, NHI_TOPIC_PARTITIONS, NHI_KAFKA_* (TLS, SASL),
NHI_WORKER_APP_ID, NHI_WORKER_PROCESSES, NHI_METRICS_PORT, NHI_IDLE_FLUSH_S and the detector
settings (see nhi replay)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_kafka_arguments(p)
    add_worker_arguments(p)
    p.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("NHI_WORKER_PROCESSES", "1") or "1"),
        metavar="N",
        help="worker processes on this host, one consumer group (default: $NHI_WORKER_PROCESSES or 1)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no final counts")
    p.set_defaults(run=run)


def add_worker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--app-id",
        default=os.environ.get("NHI_WORKER_APP_ID"),
        help="consumer group and changelog topic prefix (default: $NHI_WORKER_APP_ID or <topic prefix>worker)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log faust and Kafka client messages")
    add_metrics_argument(p)
    add_network_arguments(p)


def add_metrics_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus /metrics and /healthz on this port (default: $NHI_METRICS_PORT; unset: none)",
    )


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
    port = metrics_port_from(args.metrics_port)
    if args.processes < 1:
        raise ConfigError("--processes must be at least 1")
    if args.processes > 1:
        return run_processes(args, bootstrap, topics.prefix, app_id, port)
    servers: list[ObserveServer] = []

    def started(w: Worker) -> None:
        if port is not None:
            servers.append(ObserveServer(port, [w.metrics.registry], {"worker": w.health}).start())
        print(f"nhi worker: running ({app_id} on {bootstrap})", file=sys.stderr)

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
            on_start=started,
        )

    try:
        stats = asyncio.run(main())
    finally:
        for server in servers:
            server.stop()
    if not args.quiet:
        print_stats(stats)
    return 0


def run_processes(
    args: argparse.Namespace, bootstrap: str, prefix: str, app_id: str, port: int | None
) -> int:
    """--processes N: N `nhi worker` processes of one consumer group (each its own core and its own
    share of the partitions); SIGTERM/SIGINT reach them all; exits 1 if any failed."""
    children = []
    for i in range(args.processes):
        cmd = [sys.executable, "-m", "nhi", "worker", "--bootstrap", bootstrap, "--topic-prefix", prefix]
        cmd += ["--app-id", app_id, "--processes", "1"]
        cmd += ["--quiet"] if args.quiet else []
        cmd += ["--verbose"] if args.verbose else []
        cmd += ["--metrics-port", str(port + i)] if port is not None else []
        for f in args.ip_ranges or ():
            cmd += ["--ip-ranges", f]
        for n in args.network or ():
            cmd += ["--network", n]
        children.append(subprocess.Popen(cmd))

    def forward(signum: int, _: object) -> None:
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    codes = [c.wait() for c in children]
    return 0 if all(code == 0 for code in codes) else 1


def print_stats(stats: WorkerStats) -> None:
    console.out.print(
        f"events {stats.events}  rejects {stats.rejects}  judged {stats.judged}  findings {stats.findings}  "
        f"trust changes {stats.trust}  late {stats.late}  skipped on resume {stats.skipped}  "
        f"held for re-read {stats.held}"
    )
