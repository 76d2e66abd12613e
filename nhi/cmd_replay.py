"""nhi replay: the embedded pipeline over files or stdin."""

from __future__ import annotations

import argparse
from pathlib import Path

from alerts.live import replay_alerts
from ingest.collect import Collector
from ingest.sources import check_inputs, read_inputs
from nhi import console
from nhi.common import (
    EXIT_OK,
    EXIT_REJECTS,
    add_db_argument,
    add_format_arguments,
    add_network_arguments,
    discard_if_unused,
    open_store,
    parse_options,
    settings_from,
    warn_default_key,
)
from streams.embedded import EmbeddedPipeline, RunStats

HELP = "Run the embedded pipeline over log files (or - for stdin) and store the evidence."
DESCRIPTION = """\
Parse each record with --format, correlate the events per NHI, raise findings, score trust,
and write everything into the DuckDB store. Re-running on the same input is idempotent.

Bad input never stops the run: a record that can't be used, a corrupt or truncated gzip, an
unreadable file and a line over NHI_MAX_RECORD_BYTES each become a reject with its reason and
location (nhi query --named rejects-by-reason). Each file's evidence is committed when the file
is done, so Ctrl-C or a crash keeps the finished files; run the same command again to continue.

examples:
  nhi replay events.jsonl
  nhi replay --format auto cloudtrail/*.json.gz k8s-audit.log
  zcat audit.log.gz | nhi replay --format k8s-audit --option cluster=prod-eu-1 -

exit status: 0 when the input was processed (rejects included); 1 with --strict when any record
was rejected; 2 when the run could not proceed (a named file does not exist, the store can't be
opened; a store this run created is then removed); 130 when interrupted (finished files kept)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_db_argument(p)
    add_format_arguments(p)
    add_network_arguments(p)
    p.add_argument("--strict", action="store_true", help="exit 1 if any record was rejected (after storing)")
    p.add_argument("--quiet", "-q", action="store_true", help="don't print alerts as they fire")
    p.add_argument(
        "--alerts",
        metavar="CONFIG",
        help="also deliver alerts through the routes in CONFIG (see nhi alerts --help)",
    )
    p.add_argument("inputs", nargs="+", metavar="FILE", help="files to read; - reads stdin")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_inputs(args.inputs)  # a typo fails here, before a store is created
    settings = settings_from(args)
    collector = Collector(args.format, settings, parse_options(args.option))
    warn_default_key(settings, "replay", scratch=not Path(args.db).exists())
    with (
        discard_if_unused(args.db) as used,
        open_store(args.db) as store,
        console.progress(None, "replay") as bar,
        replay_alerts(args.alerts, store, None if args.quiet else console.print_alert) as hook,
    ):

        def progress(stats: RunStats) -> None:
            bar.update(collector.records, f"{stats.findings_opened} findings")
            used[0] = used[0] or pipeline.writes > 0

        pipeline = EmbeddedPipeline(settings, store, on_finding=hook.on_finding, on_progress=progress)
        hook.attach(pipeline)
        for item in args.inputs:
            # one file at a time: its evidence is committed before the next is read
            pipeline.feed(collector.run(read_inputs([item], settings.max_record_bytes)))
            pipeline.checkpoint(collector.skipped)
        stats = pipeline.finish(collector.skipped)
        unowned, uncovered, scopes = store.rows(UNOWNED_SQL)[0]
    print_counts(collector, stats, str(args.db))
    print_owners(int(unowned), int(uncovered), int(scopes), str(args.db))
    for line in hook.report_lines():
        console.err.print(line, markup=False)
    return EXIT_REJECTS if args.strict and stats.rejects else EXIT_OK


# Machine identities with no known owner, and how many of those no inventory covers (no finding).
UNOWNED_SQL = """
SELECT count(*), count(*) FILTER (WHERE NOT coalesce(scope_inventoried, false)), count(DISTINCT scope)
FROM identities
WHERE owner IS NULL AND managed_by IS NULL AND kind IS DISTINCT FROM 'human' AND status <> 'deleted'
"""


def print_owners(unowned: int, uncovered: int, scopes: int, db: str) -> None:
    if not unowned:
        return
    console.out.print(
        f"{unowned} identities have no known owner ({uncovered} where no inventory covers their scope, "
        f"in {scopes} scope(s)): {console.command()} query --db {db} --named unowned-identities",
        markup=False,
    )


def print_counts(collector: Collector, stats: RunStats, db: str) -> None:
    c = console.out
    c.print(
        f"records {collector.records}  events {stats.events} (stored {stats.new_events}, already stored "
        f"or repeated {stats.duplicates})  findings {stats.findings_opened} opened / {stats.finding_changes} changes  "
        f"trust changes {stats.trust_changes}  rejects {stats.rejects}  skipped {collector.skipped_total}  "
        f"late {stats.late_events}  in {stats.seconds:.1f}s -> {db}"
    )
    if stats.rejects:
        c.print(
            f"rejects are kept with their reason: {console.command()} query --db {db} --named rejects-by-reason"
        )
