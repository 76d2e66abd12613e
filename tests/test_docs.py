"""The README and docs/ are tested: the settings table, the example events and the lists match the
code, the README stays a short front page, and every link between the documents resolves."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from contract.settings import SETTINGS_DOC, Settings, env_name
from queries.named import load_named_queries
from tests.scenario import events, play

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def doc(name: str) -> str:
    return (DOCS / name).read_text()


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:600]
    assert "make demo" in head and "make test" in head


def test_settings_table_matches_the_settings_object() -> None:
    table = doc("settings.md").split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    rows = {
        m.group(1): (m.group(2), m.group(3).strip())
        for m in re.finditer(r"\| `(NHI_\w+)` \| `([^`]*)` \| (.*) \|", table)
    }
    expected = {
        env_name(f.name): (str(getattr(Settings(), f.name)), SETTINGS_DOC[f.name]) for f in fields(Settings)
    }
    assert rows == expected


def test_native_example_gives_the_findings_the_readme_describes() -> None:
    block = doc("contract.md").split("<!-- example: native -->")[1].split("```json")[1].split("```")[0]
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
        assert f"| `{name}` |" in doc("store.md"), name


def test_readme_is_a_front_page() -> None:
    assert len(README.encode()) <= 20_000
    for part in ("## Quick start", "## Log formats", "## CLI", "## The packages", "## Documentation"):
        assert part in README, part


def test_every_format_and_command_is_in_the_readme() -> None:
    from ingest.formats import FORMATS
    from nhi.cli import COMMANDS

    for name in FORMATS:
        assert f"| `{name}` |" in README, name
    for command in COMMANDS:
        assert f"nhi {command}" in README, command


def test_links_between_documents_resolve() -> None:
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
        assert "](#" not in path.read_text() or path.name != "README.md", "README anchors point at moved text"


def test_every_doc_is_linked_from_the_readme() -> None:
    for path in DOCS.glob("*.md"):
        assert f"(docs/{path.name})" in README, path.name


def test_compliance_table_is_rendered_from_the_catalogue() -> None:
    from contract.compliance import markdown_table

    assert markdown_table().strip() in doc("compliance.md")
