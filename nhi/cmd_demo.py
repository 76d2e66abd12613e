"""nhi demo: a synthetic organisation through the embedded pipeline, with alerts and a summary."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table

from contract.errors import NhiError
from contract.records import Finding
from ingest.collect import Collector
from ingest.sources import RawRecord
from nhi import console
from nhi.common import add_db_argument, open_store, settings_from
from streams.embedded import EmbeddedPipeline, RunStats
from synthetic import generate, score

DESCRIPTION = """\
Generate a realistic synthetic organisation - Kubernetes service accounts, AWS roles, Vault
AppRoles, CI jobs, SPIFFE workloads and AI agents over a simulated day - with seeded incidents
of every detector kind and benign look-alikes, and run it through the embedded pipeline.
Prints alerts as they fire, then findings per detector, the lowest trust scores, recall and
precision against the generator's ground truth, and queries to try next.

examples:
  nhi demo                       (writes ./nhi-evidence.duckdb; a second run starts afresh)
  nhi demo --db demo.duckdb --seed 42 --identities 800"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="Run a synthetic organisation end to end and show the alerts.",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_argument(p)
    p.add_argument("--seed", type=int, default=7, help="generator seed (default: 7)")
    p.add_argument("--identities", type=int, default=400, help="how many NHIs to generate (default: 400)")
    p.add_argument("--quiet", "-q", action="store_true", help="don't print alerts as they fire")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    out = console.out
    started = time.perf_counter()
    try:
        org = generate(seed=args.seed, identities=args.identities)
    except ValueError as exc:  # e.g. too few identities to seed every incident kind
        raise NhiError(f"nhi demo: {exc}") from None
    # The organisation's own networks, unless the user gave theirs: what "outside" means in it.
    if not settings.own_networks:
        settings = settings.with_overrides(own_networks=org.networks)
    out.print(
        f"[bold]nhi demo[/]: {len(org.records):,} events from {org.summary.get('identities', args.identities)} "
        f"NHIs over a simulated day (seed {args.seed}); {len(org.truth)} seeded incidents, "
        f"{len(org.benign)} benign look-alikes"
    )
    db = Path(args.db)
    for leftover in (db, db.with_name(db.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a demo always starts from an empty store

    found: set[tuple[str, str]] = set()

    def on_finding(f: Finding) -> None:
        if f.activity == "create":
            found.add((f.detector, f.nhi))
        if not args.quiet:
            console.print_alert(f)

    collector = Collector("native", settings)
    with open_store(str(db)) as store, console.progress(len(org.records), "pipeline") as bar:

        def progress(stats: RunStats) -> None:
            bar.update(stats.events, f"{stats.findings_opened} findings")

        pipeline = EmbeddedPipeline(settings, store, on_finding=on_finding, on_progress=progress)
        records = (RawRecord(b"", r, f"demo#{i}") for i, r in enumerate(org.records))
        pipeline.feed(collector.run(records))
        stats = pipeline.finish()
        lowest = store.rows(
            "SELECT nhi, trust, owner_status, open_findings FROM identities ORDER BY trust, nhi LIMIT 5"
        )
    card = score(found, org.truth)
    elapsed = time.perf_counter() - started

    out.print()
    table = Table(title="findings per detector", title_justify="left")
    for col in ("detector", "findings", "true pos.", "false pos.", "missed"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for det, (tp, fp, fn) in sorted(card.per_detector.items()):
        table.add_row(det, str(stats.by_detector.get(det, 0)), str(tp), str(fp), str(fn))
    out.print(table)
    low = Table(title="lowest trust scores", title_justify="left")
    for col in ("nhi", "trust", "owner", "open findings"):
        low.add_column(col)
    for nhi, trust, owner_status, open_findings in lowest:
        low.add_row(str(nhi), str(trust), str(owner_status), str(open_findings))
    out.print(low)
    out.print(
        f"ground truth: recall [bold]{card.recall:.1%}[/], precision [bold]{card.precision:.1%}[/] "
        f"(by detector and NHI)"
    )
    out.print(
        f"{stats.events:,} events, {stats.findings_opened} findings, {stats.trust_changes:,} trust changes, "
        f"{stats.rejects} rejects in {elapsed:.1f}s -> {db}"
    )
    out.print("\n[bold]try next:[/]")
    nhi = console.command()
    for example in (
        f"{nhi} query --db {db} --named trust-leaderboard -p limit=10",
        f"{nhi} query --db {db} --named tokens-outliving-tasks -p status=open",
        f'{nhi} query --db {db} "SELECT detector, severity, count(*) FROM findings GROUP BY ALL ORDER BY ALL"',
    ):
        out.print(f"  {example}", markup=False)
    return 0
