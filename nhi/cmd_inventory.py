"""nhi inventory import / nhi leavers import: owners and leavers as identity events."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from contract.errors import NhiError
from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.inventory import load_inventory, load_leavers
from nhi import console
from nhi.common import add_db_argument, open_store, settings_from, warn_default_key
from streams.embedded import EmbeddedPipeline

Loader = Callable[..., tuple[list[Event], list[Reject]]]

INVENTORY_HELP = """\
Import an NHI inventory (CSV, JSON, JSON lines or YAML with columns nhi, owner, purpose,
expiry, and optionally time) as identity.registered events. Into the DuckDB store by default,
or onto Kafka with --bootstrap (the worker then applies them like any other event).

examples:
  nhi inventory import owners.csv
  nhi inventory import --as-of 2026-05-01T00:00:00Z inventory.yaml
  nhi inventory import --bootstrap 127.0.0.1:9092 owners.json"""

LEAVERS_HELP = """\
Import a leavers feed (CSV or JSON with owner and departed_at) as owner.departed events; the
engine resolves each owner to the identities they own, and those identities' further activity
becomes unowned-actor findings (owner-departed, high).

examples:
  nhi leavers import hr-leavers.csv
  nhi leavers import --bootstrap 127.0.0.1:9092 leavers.json"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, short, helptext, loader in (
        (
            "inventory",
            "Import who owns which NHI (CSV, JSON or YAML) as identity events.",
            INVENTORY_HELP,
            load_inventory,
        ),
        (
            "leavers",
            "Import departed owners (CSV or JSON) as owner.departed events.",
            LEAVERS_HELP,
            load_leavers,
        ),
    ):
        top = sub.add_parser(
            name,
            help=short,
            description=helptext,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        actions = top.add_subparsers(title="actions", metavar="ACTION")
        p = actions.add_parser(
            "import",
            help=f"import a {name} file",
            description=helptext,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_db_argument(p)
        p.add_argument(
            "--as-of", metavar="TIME", help="event time for rows without one (RFC 3339; default: now)"
        )
        p.add_argument("--bootstrap", metavar="ADDR", help="produce onto Kafka instead of writing the store")
        p.add_argument("file", help="the file to import")
        p.set_defaults(run=_runner(loader))
        top.set_defaults(run=lambda args, top=top: (top.print_help(), 2)[1])


def _runner(loader: Loader) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = settings_from(args)
        warn_default_key(settings, "inventory", scratch=not args.bootstrap and not Path(args.db).exists())
        as_of = _parse_time(args.as_of) if args.as_of else None
        events, rejects = loader(Path(args.file), as_of=as_of, settings=settings)
        if args.bootstrap:
            asyncio.run(_produce(args.bootstrap, settings, events, rejects))
            where = f"Kafka at {args.bootstrap}"
        else:
            with open_store(args.db) as store:
                pipeline = EmbeddedPipeline(settings, store, on_finding=console.print_alert)
                pipeline.feed([*events, *rejects])
                pipeline.finish()
            where = args.db
        console.out.print(f"{len(events)} events, {len(rejects)} rejects from {args.file} -> {where}")
        for r in rejects[:5]:
            console.err.print(f"  rejected {r.location}: {r.reason}", markup=False)
        return 0

    return run


async def _produce(bootstrap: str, settings: Settings, events: list[Event], rejects: list[Reject]) -> None:
    from transport.admin import ensure_topics
    from transport.config import client_options
    from transport.producer import EventProducer
    from transport.topics import topics_from_env

    topics = topics_from_env()
    options = client_options()
    await ensure_topics(bootstrap, topics, options)
    producer = EventProducer(bootstrap, topics, options, fingerprint_key=settings.fingerprint_key)
    await producer.start()
    try:
        for e in events:
            await producer.send_event(e)
        for r in rejects:
            await producer.send_reject(r)
    finally:
        await producer.stop()


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NhiError(f"--as-of {text!r} is not an RFC 3339 time, e.g. 2026-05-01T00:00:00Z") from None
    if value.tzinfo is None:
        raise NhiError(f"--as-of {text!r} needs a timezone, e.g. 2026-05-01T00:00:00Z")
    return value
