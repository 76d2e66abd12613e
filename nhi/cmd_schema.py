"""nhi schema: the JSON Schema of the native event contract."""

from __future__ import annotations

import argparse

import orjson

from contract.events import json_schema


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "schema",
        help="Print the JSON Schema of the native event contract (v1).",
        description="Print the JSON Schema that every native record (one JSON object per line) follows.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2).decode())
    return 0
