"""nhi export: a compliance evidence package for one framework and time range."""

from __future__ import annotations

import argparse
from pathlib import Path

from contract.compliance import FRAMEWORKS
from contract.errors import ConfigError
from nhi import console
from nhi.common import add_db_argument
from nhi.timeargs import parse_when
from queries.compliance.export import export_package

HELP = "Write a compliance evidence package (controls, findings, inventory, report, manifest)."
DESCRIPTION = f"""\
For one framework, judge each control over the time range (pass / fail / not assessed, with the
counts and finding ids behind it) and write the evidence: the findings as OCSF JSONL, CSV and
Parquet, the NHI inventory with owners and trust scores, credential lifetimes, the SQL behind every
file, a self-contained HTML report with charts, and manifest.json with the SHA-256 of every file,
the range, the tool version and the head of the store's hash chains.

Suppressions: the package counts the suppressions recorded with nhi suppress add that were in
force at the end of the range (or now, for a range that has not ended), and lists them in
suppressions.csv with who recorded them, when, why and until when. Their findings stay in the
package, marked suppressed in findings.ocsf.jsonl, and do not fail a control. A rules file is
a preview (nhi alerts --suppressions) and is never counted.

frameworks: {", ".join(FRAMEWORKS)}

examples:
  nhi export --framework owasp-nhi-top10 --out evidence-q2/
  nhi export --db prod.duckdb --framework nist-csf-2 --from 2026-04-01 --to 2026-07-01 --out csf-q2/
  nhi verify csf-q2/                 (re-checks every file against manifest.json)"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_db_argument(p)
    p.add_argument("--framework", required=True, choices=list(FRAMEWORKS), help="which framework's controls")
    p.add_argument(
        "--from", dest="start", metavar="T", help="range start (inclusive; a date, ISO time or 30d ago)"
    )
    p.add_argument("--to", dest="end", metavar="T", help="range end (exclusive; default: no end)")
    p.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory for the package")
    # Gone: a rules file is a preview, and a package counts only recorded suppressions. Kept so that
    # an old command line gets that explanation rather than "unrecognized arguments".
    p.add_argument("--suppressions", metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.suppressions:
        raise ConfigError(
            "nhi export counts only suppressions recorded in the store; record them with "
            "nhi suppress add --finding ID --reason ... --expires ... --by ... (a rules file is a preview)"
        )
    result = export_package(
        args.db, args.framework, Path(args.out), parse_when(args.start), parse_when(args.end)
    )
    c = result.controls
    console.out.print(
        f"{args.framework}: {c.get('fail', 0)} failing, {c.get('pass', 0)} passing, "
        f"{c.get('not assessed', 0)} not assessed; {result.findings} finding changes; "
        f"{result.files} files + manifest.json -> {result.directory}",
        markup=False,
    )
    console.out.print(
        f"open {result.directory / 'report.html'} in a browser; check with: nhi verify {args.out}"
    )
    return 0
