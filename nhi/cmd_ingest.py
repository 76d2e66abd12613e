"""nhi ingest: parse log files at the edge and produce canonical events to Kafka."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from contract.errors import NhiError
from contract.settings import load_settings
from ingest.collect import Collector
from ingest.sources import RawRecord, check_inputs, read_inputs
from ingest.tail import Tailer, tail_stdin
from nhi import console
from nhi.common import add_format_arguments, parse_options, warn_default_key
from nhi.kafka_args import add_kafka_arguments, topics_from
from transport.admin import ensure_topics
from transport.config import bootstrap_from, client_options, compression_from_env
from transport.producer import BATCH_EVENTS, LINGER_MS, EventProducer, IngestStats, run_ingest
from transport.topics import Topics

# add_kafka_arguments/topics_from moved to nhi.kafka_args; still exported here for existing importers.
__all__ = ["add_kafka_arguments", "add_parser", "print_counts", "run", "topics_from"]

HELP = "Parse log files (or stdin) and produce canonical events to Kafka; bad records go to the DLQ."
DESCRIPTION = """\
Parse each record with --format (the same parsers as `nhi replay`), fingerprint secrets, and
produce the canonical events to the events topic in batch records (up to --batch-events events
of one partition each, lz4-compressed), partitioned by NHI (or by the task, credential or owner
an event names when it has no NHI). Records that can't be parsed go to the DLQ topic with the
reason, format and location in headers. Missing topics are created first.

examples:
  nhi ingest --bootstrap localhost:9092 events.jsonl
  nhi ingest --format cloudtrail cloudtrail/*.json.gz
  zcat audit.log.gz | nhi ingest --format k8s-audit --option cluster=prod-eu-1 -
  nhi ingest --format k8s-audit --follow /var/log/kube-apiserver/audit.log
  nhi ingest --format auto --watch /incoming          (every file that appears in /incoming)

environment: NHI_KAFKA_BOOTSTRAP (default for --bootstrap), NHI_TOPIC_PREFIX, NHI_TOPIC_PARTITIONS,
NHI_KAFKA_SECURITY_PROTOCOL and the other NHI_KAFKA_* client settings (TLS, SASL).

exit status: 0 when the input was read (rejects included: a damaged or unreadable file is a
reject with its location, sent to the DLQ); 2 when Kafka failed or a named file does not exist.
--follow and --watch run until SIGINT/SIGTERM, then send what was read and exit 0."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_kafka_arguments(p)
    add_format_arguments(p)
    p.add_argument(
        "--follow", "-F", action="store_true", help="keep reading the files as they grow (like tail -F)"
    )
    p.add_argument(
        "--watch", metavar="DIR", help="follow every file in DIR, including files that appear later"
    )
    p.add_argument(
        "--batch-events",
        type=int,
        default=int(os.environ.get("NHI_WIRE_BATCH_EVENTS", "") or BATCH_EVENTS),
        metavar="N",
        help=f"events per Kafka record (one partition's; default: $NHI_WIRE_BATCH_EVENTS or {BATCH_EVENTS})",
    )
    p.add_argument(
        "--linger-ms",
        type=int,
        default=int(os.environ.get("NHI_WIRE_LINGER_MS", "") or LINGER_MS),
        metavar="MS",
        help=f"how long a partial batch waits for more events (default: $NHI_WIRE_LINGER_MS or {LINGER_MS})",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no final counts")
    p.add_argument("inputs", nargs="*", metavar="FILE", help="files to read; - reads stdin")
    p.set_defaults(run=run)


def _records(
    args: argparse.Namespace, stop: threading.Event
) -> Callable[[Callable[[], None]], Iterable[RawRecord]]:
    inputs: list[str] = args.inputs
    if not inputs and not args.watch:
        raise NhiError("nothing to read: give FILE arguments, - for stdin, or --watch DIR")
    if inputs == ["-"] and not args.watch:
        # stdin is followed by nature (it ends when the writer closes it), with or without --follow
        return lambda idle: tail_stdin(stop.is_set, idle)
    if "-" in inputs:
        raise NhiError("stdin (-) can't be combined with files or --watch")
    if not args.follow and not args.watch:
        check_inputs(inputs)  # a typo fails before connecting to Kafka
        limit = load_settings().max_record_bytes
        return lambda idle: read_inputs(inputs, limit)
    paths = [Path(i) for i in inputs]
    directory = Path(args.watch) if args.watch else None
    tailer_args = (paths, directory)
    Tailer(*tailer_args)  # checks the paths now, so a typo fails before connecting to Kafka
    return lambda idle: Tailer(*tailer_args, stop=stop.is_set, idle=idle)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    warn_default_key(settings, "ingest")
    collector = Collector(args.format, settings, parse_options(args.option))
    stop = threading.Event()
    records = _records(args, stop)
    bootstrap = bootstrap_from(args.bootstrap)
    topics = topics_from(args)
    options = client_options()
    compression = compression_from_env()

    async def main() -> IngestStats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await ensure_topics(bootstrap, topics, options)
            producer = EventProducer(
                bootstrap,
                topics,
                options,
                compression=compression,
                fingerprint_key=settings.fingerprint_key,
                batch_events=args.batch_events,
                linger_ms=args.linger_ms,
            )
            await producer.start()
            try:
                with console.progress(None, "ingest") as bar:

                    def progress(stats: IngestStats) -> None:
                        bar.update(stats.records, f"{stats.rejects} rejects")

                    return await run_ingest(producer, collector, records, stop, progress)
            finally:
                await producer.stop()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    stats = asyncio.run(main())
    if not args.quiet:
        print_counts(stats, topics)
    return 0


def print_counts(stats: IngestStats, topics: Topics) -> None:
    # stderr: stdout stays free for whatever a pipeline around `nhi ingest` wants to use it for.
    console.err.print(
        f"records {stats.records}  events {stats.events} -> {topics.events}  rejects {stats.rejects} -> "
        f"{topics.dlq}  skipped {stats.skipped} (about no NHI) -> {topics.stats}  acknowledged {stats.sent}  "
        f"in {stats.seconds:.1f}s"
    )
