"""The README is tested: its settings table, its example events and its lists match the code."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from contract.settings import SETTINGS_DOC, Settings, env_name
from queries.named import load_named_queries
from tests.scenario import events, play

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:600]
    assert "make demo" in head and "make test" in head


def test_settings_table_matches_the_settings_object() -> None:
    table = README.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    rows = {
        m.group(1): (m.group(2), m.group(3).strip())
        for m in re.finditer(r"\| `(NHI_\w+)` \| `([^`]*)` \| (.*) \|", table)
    }
    expected = {
        env_name(f.name): (str(getattr(Settings(), f.name)), SETTINGS_DOC[f.name]) for f in fields(Settings)
    }
    assert rows == expected


def test_native_example_gives_the_findings_the_readme_describes() -> None:
    block = README.split("<!-- example: native -->")[1].split("```json")[1].split("```")[0]
    import orjson

    records = [orjson.loads(line) for line in block.strip().splitlines()]
    assert events(records)  # every example line is valid contract v1
    out, _ = play(records)
    got = sorted((f.detector, f.reason, f.severity) for f in out.findings if f.activity == "create")
    assert got == [
        ("context-drift", "credential-node-changed", "high"),
        ("token-outlived-task", "outlived-task", "medium"),
        ("token-outlived-task", "used-after-task-end", "high"),
    ]


def test_every_named_query_is_documented() -> None:
    for name in load_named_queries():
        assert f"| `{name}` |" in README, name
