"""What every real dataset file stores, pinned: a refactor of the parsers must not change it.

``tests/data/datasets_stored.json`` holds, per data file of ``../shared/datasets``, a digest of
each event as the store writes it (the Arrow row: times as UTC instants) and each reject's reason
by location. A deliberate change to what a parser stores is a fix: regenerate the file with
``NHI_UPDATE_STORED=1 pytest tests/test_datasets_stored.py`` and list the fix in
``docs/formats.md`` ("Changes to stored events"), so the diff is reviewed, never silent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.sources import read_path
from store.columns import events_table
from tests.real_datasets import datasets_dir

PINNED = Path(__file__).parent / "data" / "datasets_stored.json"
NOT_DATA = ("LICENSES/", "README.md", "MANIFEST.json")


def data_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not p.name.endswith(".labels.jsonl")
        and not str(p.relative_to(root)).startswith(NOT_DATA)
    )


def stored_form(path: Path) -> dict[str, Any]:
    events, rejects = [], []
    for item in Collector("auto", Settings()).run(read_path(path)):
        (rejects if isinstance(item, Reject) else events).append(item)
    rows = events_table(events).to_pylist() if events else []
    digests = {
        row["id"]: hashlib.blake2b(
            orjson.dumps(row, default=str, option=orjson.OPT_SORT_KEYS), digest_size=8
        ).hexdigest()
        for row in rows
    }
    # Locations relative to the datasets folder: the pin must hold wherever the checkout lives.
    root = f"{path.parent}/"
    return {
        "events": digests,
        "rejects": {(r.location or "").replace(root, "", 1): r.reason for r in rejects},
    }


def test_every_real_file_stores_what_it_stored_before() -> None:
    root = datasets_dir()
    now = {str(p.relative_to(root)): stored_form(p) for p in data_files(root)}
    if os.environ.get("NHI_UPDATE_STORED"):
        PINNED.write_bytes(orjson.dumps(now, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
        pytest.skip("pinned stored forms rewritten; review the diff and document the fix")
    pinned = orjson.loads(PINNED.read_bytes())
    assert sorted(now) == sorted(pinned), "the set of data files changed"
    problems = []
    for name, want in pinned.items():
        got = now[name]
        for kind in ("events", "rejects"):
            added = sorted(got[kind].keys() - want[kind].keys())
            gone = sorted(want[kind].keys() - got[kind].keys())
            changed = sorted(k for k in want[kind].keys() & got[kind].keys() if want[kind][k] != got[kind][k])
            for label, keys in (("new", added), ("gone", gone), ("changed", changed)):
                if keys:
                    problems.append(f"{name}: {len(keys)} {kind} {label}, e.g. {keys[:3]}")
    assert not problems, "\n".join(problems)
    assert sum(len(v["events"]) for v in pinned.values()) > 500  # the pin covers real volume
