"""nhi suppress add | list | revoke: suppressions recorded as evidence (who, when, why, until when)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from contract.errors import ConfigError
from contract.suppressions import SuppressionRow, suppression_id
from nhi import console
from nhi.common import add_db_argument, open_store
from nhi.timeargs import parse_when
from queries.output import render
from store import suppressions
from store.readonly import QueryResult
from store.store import Store

HELP = "Record, list or revoke suppressions of findings; each is evidence: who, when, why, until when."
DESCRIPTION = """\
A suppression says that a finding is known and accepted for a while: its alerts are marked
suppressed (OCSF status_id 3, with the suppression's id and reason) instead of new, and
compliance packages count it instead of failing the control, listing it in suppressions.csv.

Only these commands record one. Each is appended to the store's suppressions table, on its own
hash chain (nhi verify --db checks it): who recorded it (--by), when, why (--reason) and until
when (--expires; required: a suppression is reviewed, never forever). Revoking one appends a
revocation; nothing is updated or deleted. To try rules before recording anything, use
nhi alerts --suppressions FILE, which only previews.

examples:
  nhi suppress add --finding 3f2a9c1e --reason "CI role, rotation ticket SEC-1234" --expires 30d --by alice
  nhi suppress list                          (in force now; --all adds expired and revoked ones)
  nhi suppress revoke sup-0123456789abcdef --reason "SEC-1234 closed" --by bob

exit status: 0 done, 2 when it could not be done (unknown finding, a time in the past, a
store that can't be written)."""

_IN = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    top = sub.add_parser("suppress", help=HELP, description=DESCRIPTION, formatter_class=fmt)

    def usage(args: argparse.Namespace) -> int:
        top.print_help()
        return 2

    top.set_defaults(run=usage)
    actions = top.add_subparsers(title="actions", metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="record a suppression of one or more findings",
        description=DESCRIPTION,
        formatter_class=fmt,
    )
    add_db_argument(add)
    add.add_argument(
        "--finding", required=True, action="append", metavar="ID",
        help="finding id, or a unique start of one (repeatable)",
    )  # fmt: skip
    add.add_argument("--reason", required=True, help="why the finding is accepted (a ticket, a decision)")
    add.add_argument(
        "--expires", required=True, metavar="WHEN",
        help="until when: a time (2026-09-30, 2026-09-30T12:00:00Z) or a duration from now (12h, 30d, 6w)",
    )  # fmt: skip
    add.add_argument("--by", required=True, metavar="WHO", help="who records it (name or e-mail)")
    add.set_defaults(run=run_add)

    show = actions.add_parser("list", help="the suppressions in force (--all: every one recorded)")
    add_db_argument(show)
    show.add_argument("--all", action="store_true", help="also expired and revoked suppressions")
    show.add_argument("--output", "-O", choices=("table", "json", "jsonl", "csv"), default="table")
    show.set_defaults(run=run_list)

    revoke = actions.add_parser("revoke", help="end a suppression before it expires (recorded too)")
    add_db_argument(revoke)
    revoke.add_argument(
        "suppression", metavar="SUPPRESSION_ID", help="the id nhi suppress add printed (sup-...)"
    )
    revoke.add_argument("--reason", required=True, help="why it ends now")
    revoke.add_argument("--by", required=True, metavar="WHO", help="who revokes it")
    revoke.set_defaults(run=run_revoke)


def parse_until(value: str, now: datetime) -> datetime:
    """'30d' from now, or a time; it must be in the future."""
    text = value.strip()
    if m := _IN.match(text):
        until = now + timedelta(seconds=float(m["n"]) * _UNITS[m["unit"]])
    else:
        parsed = parse_when(text, now)
        assert parsed is not None
        until = parsed
    if until <= now:
        raise ConfigError(f"--expires {value!r} is not in the future (it is {until.isoformat()})")
    return until


def _text(value: str, option: str) -> str:
    text = value.strip()
    if not text:
        raise ConfigError(f"{option} can't be empty")
    return text


def _resolve(store: Store, wanted: list[str]) -> list[str]:
    found = suppressions.finding_ids(store, wanted)
    ids = []
    for given, names in found.items():
        if not names:
            raise ConfigError(
                f"no finding {given!r} in {store.path} (list them: nhi query --db {store.path} "
                '"SELECT finding_id, detector, nhi, status FROM findings")'
            )
        if len(names) > 1:
            raise ConfigError(
                f"{given!r} names several findings ({', '.join(names)}, ...): give more of the id"
            )
        ids.append(names[0])
    return ids


def run_add(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    until = parse_until(args.expires, now)
    reason, by = _text(args.reason, "--reason"), _text(args.by, "--by")
    with open_store(args.db) as store:
        findings = _resolve(store, args.finding)
        rows = [
            SuppressionRow(suppression_id(f, by, now), "add", f, reason, by, now, until) for f in findings
        ]
        suppressions.record(store, rows)
    for r in rows:
        console.out.print(
            f"recorded {r.suppression_id}: finding {r.finding_id} suppressed until {until.isoformat()} "
            f"by {by}: {reason}",
            markup=False,
        )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    reason, by = _text(args.reason, "--reason"), _text(args.by, "--by")
    with open_store(args.db) as store:
        rows = suppressions.rows(store)
        added = next((r for r in rows if r.suppression_id == args.suppression and r.action == "add"), None)
        if added is None:
            raise ConfigError(
                f"no suppression {args.suppression!r} in {args.db} (see: nhi suppress list --all)"
            )
        if any(r.suppression_id == args.suppression and r.action == "revoke" for r in rows):
            raise ConfigError(f"{args.suppression} was revoked already (see: nhi suppress list --all)")
        revocation = SuppressionRow(args.suppression, "revoke", added.finding_id, reason, by, now)
        suppressions.record(store, [revocation])
    console.out.print(
        f"revoked {args.suppression} (finding {added.finding_id}) by {by}: {reason}", markup=False
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with Store.open(args.db, read_only=True) as store:
        rows = suppressions.rows(store)
    revoked = {r.suppression_id: r for r in rows if r.action == "revoke"}
    out = []
    for r in rows:
        if r.action != "add":
            continue
        if r.suppression_id in revoked:
            status = f"revoked {revoked[r.suppression_id].recorded_at:%Y-%m-%d} by {revoked[r.suppression_id].actor}"
        elif r.expires is not None and r.expires <= now:
            status = "expired"
        else:
            status = "in force"
        if args.all or status == "in force":
            out.append((r.suppression_id, r.finding_id, status, r.actor, r.recorded_at, r.expires, r.reason))
    columns = ["suppression_id", "finding_id", "status", "recorded_by", "recorded_at", "expires", "reason"]
    console.out.print(render(QueryResult(columns, out), args.output), markup=False, end="")
    return 0
