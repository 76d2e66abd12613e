"""nhi query / nhi queries: read-only SQL over the evidence store."""

from __future__ import annotations

import argparse
import sys

from contract.errors import QueryError, StoreError
from nhi.common import add_db_argument
from queries.named import get_named, load_named_queries
from queries.output import write_result
from store.readonly import QueryResult, run_query

FORMATS = ("table", "csv", "json", "jsonl", "parquet")

QUERY_DESCRIPTION = """\
Run read-only SQL against the evidence store, or a named query with bound parameters.
Statements other than SELECT/WITH/DESCRIBE/SHOW/EXPLAIN are refused, and so is file or
network access from SQL. While `nhi sink` holds the file, the query is answered by the sink.

tables: events, identities, credentials, tasks, findings, finding_history, trust_scores, rejects

examples:
  nhi query "SELECT detector, count(*) FROM findings GROUP BY ALL"
  nhi query --named trust-leaderboard -p limit=10
  nhi query --named identity-timeline -p nhi=k8s:prod-eu-1/payments/ledger --output json
  nhi query --output parquet --out findings.parquet "SELECT * FROM findings"
  nhi queries                      (lists the named queries and their parameters)"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "query",
        help="Run read-only SQL or a named query against the evidence store.",
        description=QUERY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_argument(p)
    p.add_argument("--output", "-O", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout (required for parquet)")
    p.add_argument("--named", "-n", metavar="NAME", help="run a named query (see: nhi queries)")
    p.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="bind :KEY in the query (repeatable)",
    )
    p.add_argument("sql", nargs="?", help="the SQL to run (omit with --named)")
    p.set_defaults(run=run)

    q = sub.add_parser(
        "queries",
        help="List the named queries with their descriptions and parameters.",
        description="List the named queries shipped in queries/sql, with their parameters.",
    )
    q.add_argument("--sql", action="store_true", help="also print each query's SQL")
    q.set_defaults(run=run_list)


def parse_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise QueryError(f"-p expects KEY=VALUE, got {pair!r}")
        params[key.strip()] = value
    return params


def execute(db: str, sql: str, params: dict[str, object]) -> QueryResult:
    """Read the file directly; when a running sink holds its lock, ask the sink instead."""
    try:
        return run_query(db, sql, params)
    except (StoreError, QueryError) as exc:
        if "lock" not in str(exc).lower():
            raise
        try:
            from queries.remote import run_remote
        except ImportError:
            raise exc from None
        result = run_remote(db, sql, params)
        if result is None:
            raise
        return result


def run(args: argparse.Namespace) -> int:
    params = parse_params(args.param)
    if args.named and args.sql:
        raise QueryError("give either SQL or --named NAME, not both")
    if args.named:
        named = get_named(args.named)
        sql, params = named.sql, named.bind(params)
    elif args.sql:
        sql = args.sql
    else:
        raise QueryError('no SQL given: nhi query "SELECT ..." or nhi query --named NAME (see nhi queries)')
    result = execute(args.db, sql, params)
    write_result(result, args.output, path=args.out, stream=None if args.out else sys.stdout)
    return 0


def run_list(args: argparse.Namespace) -> int:
    for q in load_named_queries().values():
        print(q.name)
        print(f"    {q.description}")
        for p in q.params:
            need = (
                "required"
                if p.required
                else (f"default {p.default}" if p.default is not None else "optional")
            )
            print(f"    -p {p.name}=...   {p.description.split('(')[0].strip()} [{need}]")
        if args.sql:
            print("\n".join("      " + line for line in q.sql.strip().splitlines()))
        print()
    return 0
