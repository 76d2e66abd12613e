"""nhi verify: re-check an evidence package (DIR) or the hash chains of a store (--db)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contract.errors import ConfigError
from nhi import console
from store.store import Store

HELP = "Verify an evidence package (nhi export) or the hash chains of an evidence store."
DESCRIPTION = """\
nhi verify DIR       recomputes the SHA-256 of every file listed in DIR/manifest.json and
                     reports any file that was changed, removed or added.
nhi verify --db PATH walks the hash chains of finding_history and trust_scores: an edited row
                     breaks its own hash, a deleted row leaves a gap in seq (or a shorter chain
                     than the recorded head). The first broken links are named.

examples:
  nhi verify evidence-2026-05/
  nhi verify --db nhi-evidence.duckdb

exit status: 0 when everything verifies, 1 on any change, 2 when it can't be checked (an error)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", metavar="PATH", help="verify the hash chains of this evidence store")
    p.add_argument("package", nargs="?", metavar="DIR", help="an evidence package written by nhi export")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.db) == bool(args.package):
        raise ConfigError("give either an evidence package DIR or --db PATH (see nhi verify --help)")
    if args.db:
        return verify_store(args.db)
    return verify_package(Path(args.package))


def verify_store(db: str) -> int:
    with Store.open(db, read_only=True) as store:
        reports = store.verify_chains()
    out = console.out
    broken = 0
    for r in reports:
        if r.ok:
            out.print(
                f"[green]ok[/]      {r.table}: {r.rows} rows, chain head seq {r.head_seq} {r.head_hash[:16]}"
            )
            continue
        broken += 1
        out.print(f"[bold red]BROKEN[/]  {r.table}: {r.rows} rows; first broken links:")
        for b in r.breaks:
            out.print(f"          {b}", markup=False)
    return 1 if broken else 0


def verify_package(directory: Path) -> int:
    from queries.compliance.package import verify_package_dir

    problems, checked = verify_package_dir(directory)
    out = console.out
    if not problems:
        out.print(f"[green]ok[/]  {directory}: {checked} files match manifest.json")
        return 0
    out.print(f"[bold red]CHANGED[/]  {directory}: {len(problems)} problem(s)")
    for p in problems:
        out.print(f"  {p}", markup=False)
    return 1
