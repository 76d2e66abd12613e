"""Access to the real public log samples in ``../shared/datasets`` (never copied into the repo).

Missing samples skip the tests on a developer machine but fail them in CI (``CI`` set), so a CI
run can't pass by silently testing nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def datasets_dir() -> Path:
    if DATASETS.is_dir():
        return DATASETS
    if os.environ.get("CI"):
        pytest.fail(f"real datasets missing at {DATASETS} (CI is set: they must be there)")
    pytest.skip(f"real datasets not present at {DATASETS}")


def dataset_file(rel: str) -> Path:
    path = datasets_dir() / rel
    if not path.is_file():
        pytest.fail(f"dataset file {rel} is missing from {DATASETS}")
    return path


def dataset_line(rel: str, index: int) -> Any:
    """The decoded JSON record on 0-based line ``index`` of a JSONL dataset file."""
    lines = dataset_file(rel).read_bytes().splitlines()
    return orjson.loads(lines[index])


def dataset_files(*folders: str) -> list[Path]:
    root = datasets_dir()
    files = sorted(p for f in folders for p in (root / f).rglob("*.jsonl"))
    if not files:
        pytest.fail(f"no .jsonl files under {folders} in {root}")
    return files
