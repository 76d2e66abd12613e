"""nhi explain: the story of one finding, from the store (read-only)."""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.markup import escape

from alerts.explain import Story, explain
from nhi import console
from nhi.common import add_db_argument, open_store

HELP = "Tell the story of one finding: the evidence in order, the owner and trust factors, what to do."
DESCRIPTION = """\
For one finding (its id, or the start of it, as in alerts' finding_info.uid): what it says, the
timeline of the events it cites together with its own changes and the identity's trust changes,
who owns the identity and why its trust score is what it is (each factor with its delta and
evidence), and the runbook: what it means, the steps to take and references. Opens the store
read-only: it changes nothing.

examples:
  nhi explain 5b5163fd                      (a unique prefix is enough)
  nhi explain --db evidence.duckdb 5b5163fde3f5dd7b9fa57b08 --format json

exit status: 0, or 1 when the finding is not in the store (or the prefix matches several)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "explain", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_db_argument(p)
    p.add_argument("finding", metavar="FINDING", help="finding id, or a unique prefix of it")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_store(args.db, read_only=True) as store:
        story = explain(store, args.finding)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(story.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_story(story)
    return 0


def print_story(s: Story) -> None:
    out = console.out
    f = s.finding
    style = console.SEVERITY_STYLE.get(f.severity, "")
    state = "RESOLVED" if f.status == "resolved" else "OPEN"
    out.print(
        f"[bold]{escape(s.guide.title)}[/]  [{style}]{f.severity.upper()}[/] {state}  finding {f.finding_id}"
    )
    out.print(escape(f.summary))
    out.print(f"[dim]{f.detector} / {f.reason}, confidence {s.guide.confidence}; first seen {f.first_seen:%Y-%m-%d %H:%M:%S}Z, "
              f"last {f.last_seen:%Y-%m-%d %H:%M:%S}Z, {len(s.history)} change(s)[/]")  # fmt: skip

    out.print("\n[bold]What it means[/]")
    out.print(escape(s.guide.description))

    out.print("\n[bold]What happened[/] (evidence events, the finding's changes, trust changes)")
    for t, kind, what in s.timeline():
        mark = {"event": "[cyan]event  [/]", "finding": "[magenta]finding[/]", "trust": "[yellow]trust  [/]"}[
            kind
        ]
        out.print(f"  {t:%Y-%m-%d %H:%M:%S}Z  {mark}  {escape(what)}")
    if s.missing_events:
        out.print(
            f"  [dim]{len(s.missing_events)} cited event(s) are not in this store: {', '.join(s.missing_events[:5])}[/]"
        )

    out.print(f"\n[bold]Who[/] {escape(f.nhi)}")
    ident = s.identity
    if ident is None:
        out.print("  not in the identities table")
    else:
        owner = ident["owner"] or "none registered"
        out.print(f"  owner {escape(str(owner))} ({ident['owner_status']}), {ident['status']}, "
                  f"{ident['event_count']} events, {ident['open_findings']} open finding(s)")  # fmt: skip
        out.print(f"  trust now [bold]{ident['trust']}[/] = 100" + "".join(
            f" {fa['delta']:+d}" for fa in s.factors if fa["delta"]) + " (clamped to 0-100)")  # fmt: skip
        for fa in s.factors:
            ev = f"  [dim]evidence {', '.join(fa['evidence'][:3])}[/]" if fa["evidence"] else ""
            out.print(f"    {fa['delta']:+4d}  {fa['name']:<20} {escape(fa['detail'])}{ev}")

    out.print("\n[bold]What to do[/]")
    for i, step in enumerate(s.guide.steps, 1):
        out.print(f"  {i}. {escape(step)}")
    if s.guide.references:
        out.print("\n[bold]Read[/]")
        for r in s.guide.references:
            out.print(f"  {escape(r.title)}: {r.url}", markup=True)
