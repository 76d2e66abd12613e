"""The ``nhi`` command: thin wiring over the library. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from contract.errors import NhiError
from nhi import (
    cmd_alerts,
    cmd_demo,
    cmd_explain,
    cmd_export,
    cmd_ingest,
    cmd_inventory,
    cmd_query,
    cmd_replay,
    cmd_run,
    cmd_schema,
    cmd_sink,
    cmd_suppress,
    cmd_verify,
    cmd_worker,
)
from nhi.common import EXIT_FAILED, EXIT_INTERRUPTED

COMMANDS: dict[str, Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = {
    # embedded: try it, replay logs, ask questions
    "demo": cmd_demo.add_parser,
    "replay": cmd_replay.add_parser,
    "query": cmd_query.add_parser,
    "schema": cmd_schema.add_parser,
    "inventory": cmd_inventory.add_parser,
    # the Kafka route
    "ingest": cmd_ingest.add_parser,
    "worker": cmd_worker.add_parser,
    "sink": cmd_sink.add_parser,
    "run": cmd_run.add_parser,
    # SOC and audit
    "alerts": cmd_alerts.add_parser,
    "suppress": cmd_suppress.add_parser,
    "explain": cmd_explain.add_parser,
    "export": cmd_export.add_parser,
    "verify": cmd_verify.add_parser,
}

DESCRIPTION = """\
nhi-evidence: runtime evidence for non-human identities.

Collect auth and action events of service accounts, roles, workloads, CI jobs and agents;
correlate them per identity; catch tokens that outlive their task, unowned actors and context
drift; keep an explainable trust score; query the evidence with SQL.

start here:
  nhi demo                      a synthetic organisation end to end, with alerts
  nhi replay events.jsonl       your own events (see: nhi schema)
  nhi queries                   the named queries; then nhi query --named NAME

exit status: 0 done; 1 what the command's help says (rejects with --strict, a broken chain, ...);
2 the command could not proceed (bad arguments, input or store that can't be used); 130 Ctrl-C."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nhi", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nhi-evidence")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_FAILED
    try:
        return int(run(args))
    except NhiError as exc:
        print(f"nhi: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("nhi: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # e.g. `nhi query ... | head`: the reader left; that is not an error of ours
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
