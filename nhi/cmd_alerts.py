"""nhi alerts: findings as OCSF Detection Findings (or text), from the store or the findings topic."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable

import orjson

from alerts.feed import AlertMaker, StoreFeed
from alerts.live import LiveAlerts
from alerts.ocsf import Alert, to_ocsf, to_text
from alerts.router import DeliveryReport, Router
from alerts.suppress import ENV, Suppressor, load_rules
from contract.errors import ConfigError, StoreError
from nhi import console
from nhi.common import add_db_argument
from nhi.timeargs import parse_when
from transport.config import bootstrap_from
from transport.topics import topics_from_env

HELP = "Print (or deliver) findings as OCSF 1.8 Detection Finding alerts, from the store or Kafka."
DESCRIPTION = f"""\
Every finding change (create / update / close) is one OCSF Detection Finding record (class_uid
2004); the alert uid is the finding id, so a finding is one alert that is updated and closed, not
repeated. Each record carries its runbook (what it means, what to do, references) and its
detector's OWASP NHI Top 10, NIST CSF 2.0 and SP 800-207 controls.

The notification policy decides what people see: a finding that opens, whose severity rises, or
whose status changes (resolved, suppressed, reopened). Updates that only add evidence are in the
store and on the findings topic, not printed or routed (--every-change prints them; a route can
ask for them with every_change: true). is_alert in each record is that decision.

--route CONFIG delivers to Slack, Microsoft Teams, PagerDuty (Events v2), Opsgenie, webhooks
(HMAC-signed; a Jinja2 template shapes the body for any other service), syslog and JSONL files,
with retries, backoff, dead letters and per-route throttles (docs/alerts.md has the config).

Suppressions recorded in the store (nhi suppress add: who, when, why, until when) mark their
finding's alerts as suppressed (status_id 3) with the suppression and its reason; a rules file
(--suppressions or ${ENV}) previews the same on matching alerts. Reading alerts never writes to
the store: only nhi suppress records a suppression. Suppressed alerts are never dropped.

examples:
  nhi alerts --db evidence.duckdb                         (OCSF JSON, one record per line)
  nhi alerts --format text --since 24h
  nhi alerts --follow --suppressions suppressions.yaml    (poll for new changes as they land)
  nhi alerts --route routes.yaml --since 7d               (deliver stored alerts to the routes)
  nhi alerts --every-change --format text                 (every change, evidence-only updates too)
  nhi alerts --bootstrap localhost:9092 --route routes.yaml   (consume the findings topic)

exit status: 0 when every alert was printed or delivered, 1 if any went to the dead letters."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "alerts", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_db_argument(p)
    p.add_argument("--format", choices=("ocsf", "text"), default="ocsf", help="output format (default: ocsf)")
    p.add_argument(
        "--since", metavar="T", help="only changes at or after T (2026-05-01, an ISO time, or 24h / 7d ago)"
    )
    p.add_argument(
        "--follow", "-F", action="store_true", help="keep polling the store for new finding changes"
    )
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="--follow poll interval (default 2s)"
    )
    p.add_argument(
        "--every-change",
        action="store_true",
        help="print every finding change, including updates that only add evidence (not notified)",
    )
    p.add_argument(
        "--suppressions",
        metavar="FILE",
        help=f"preview suppression rules, YAML (default: ${ENV}); nothing is recorded (see nhi suppress)",
    )
    p.add_argument("--route", metavar="CONFIG", help="deliver through the destinations and routes in CONFIG")
    p.add_argument(
        "--bootstrap",
        metavar="ADDR",
        help="consume the Kafka findings topic at ADDR instead of reading the store",
    )
    p.add_argument("--group", default="nhi-alerts", help="Kafka consumer group (default: nhi-alerts)")
    p.add_argument("--quiet", "-q", action="store_true", help="with --route: don't print the alerts as well")
    p.add_argument(
        "--drain",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to finish deliveries at exit (default 30)",
    )
    p.set_defaults(run=run)


def emitter(fmt: str) -> Callable[[Alert], None]:
    def emit(alert: Alert) -> None:
        line = orjson.dumps(to_ocsf(alert)).decode() if fmt == "ocsf" else to_text(alert)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return emit


def run(args: argparse.Namespace) -> int:
    suppressor = Suppressor(load_rules(args.suppressions))
    router: Router | None = None
    if args.route:
        router, warnings = Router.from_file(args.route)
        for w in warnings:
            console.err.print(f"nhi alerts: {args.route}: {w}", markup=False)
    emit = None if (router is not None and args.quiet) else emitter(args.format)
    maker = AlertMaker(suppressor)
    live = LiveAlerts(maker, router, emit, every_change=args.every_change)
    try:
        if args.bootstrap:
            _from_kafka(args, live)
        else:
            _from_store(args, live, suppressor)
    finally:
        report = live.close(args.drain)
        _policy_summary(live, args.every_change)
    return _summarise(report)


def _policy_summary(live: LiveAlerts, every_change: bool) -> None:
    counts = {c: n for c, n in live.maker.policy.counts.items() if n}
    if not counts:
        return
    parts = ", ".join(f"{c} {n}" for c, n in counts.items())
    hidden = "" if every_change else " (evidence-only updates are not notified; --every-change prints them)"
    console.err.print(f"nhi alerts: {live.count} finding changes: {parts}{hidden}", markup=False)


def _from_store(args: argparse.Namespace, live: LiveAlerts, suppressor: Suppressor) -> None:
    feed = StoreFeed(args.db, suppressor, since=parse_when(args.since), policy=live.maker.policy)
    warned = False
    while True:
        try:
            for alert in feed.poll():
                live.handle(alert)
        except StoreError as exc:
            # While a writer (nhi replay, the sink) holds the file, wait for it rather than give up.
            if not args.follow or "lock" not in str(exc).lower():
                raise
            if not warned:
                console.err.print(f"nhi alerts: {exc} - waiting", markup=False)
                warned = True
        if not args.follow:
            return
        time.sleep(args.interval)


def _from_kafka(args: argparse.Namespace, live: LiveAlerts) -> None:
    from alerts.kafka_source import IdentityCache
    from transport.findings_feed import consume_findings

    if args.follow or args.since:
        raise ConfigError(
            "--follow and --since read the store; with --bootstrap the topic is followed anyway"
        )
    cache = IdentityCache()
    live.maker.lookup = cache.lookup

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await consume_findings(
            bootstrap_from(args.bootstrap),
            topics_from_env(),
            args.group,
            live.on_finding,
            on_identity=cache.remember,
            pending=lambda: live.pending,
            stop=stop,
            final_drain_s=args.drain,
        )
        console.err.print(
            f"nhi alerts: consumed {stats.findings} finding changes, {stats.undecodable} undecodable"
        )

    asyncio.run(main())


def _summarise(report: DeliveryReport | None) -> int:
    if report is None:
        return 0
    for line in report.lines():
        console.err.print(line, markup=False)
    return 1 if report.dead else 0
