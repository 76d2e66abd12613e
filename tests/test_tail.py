"""Tailer: complete lines only, rotation and truncation, new files in a folder. Driven by its idle hook."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from contract.errors import NhiError
from ingest.tail import Tailer


def _script(steps: list[Callable[[], None]]) -> tuple[Callable[[], bool], Callable[[], None]]:
    """stop/idle hooks that run one step each time the tailer runs dry, and stop after the last."""
    todo = list(steps)

    def idle() -> None:
        if todo:
            todo.pop(0)()

    return (lambda: not todo), idle


def _locations(tailer: Tailer) -> list[str]:
    return [r.location.rsplit("/", 1)[-1] for r in tailer]


def test_follow_waits_for_complete_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b'{"n": 1}\n{"n": 2')

    def append_rest() -> None:
        with log.open("ab") as fh:
            fh.write(b'}\n{"n": 3}\n')

    def rotate() -> None:
        log.rename(tmp_path / "audit.log.1")
        log.write_bytes(b'{"n": 4}\n')

    def truncate() -> None:
        # Same inode, shorter than what was read (a truncation to an equal or larger size can't be
        # told from appends, as with tail -F).
        log.write_bytes(b'{"n":5}\n')

    stop, idle = _script([append_rest, rotate, truncate, lambda: None])
    records = list(Tailer([log], stop=stop, idle=idle, poll_s=0))
    assert [r.value["n"] for r in records] == [1, 2, 3, 4, 5]
    assert [r.location.rsplit(":", 1)[-1] for r in records] == ["1", "2", "3", "1", "1"]


def test_watch_picks_up_new_files_and_skips_partial_ones(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b'{"f": "a"}\n')

    def new_files() -> None:
        (folder / ".hidden.jsonl").write_bytes(b'{"f": "hidden"}\n')
        (folder / "c.jsonl.part").write_bytes(b'{"f": "partial"}\n')
        (folder / "b.jsonl.gz").write_bytes(gzip.compress(b'{"f": "b1"}\n{"f": "b2"}\n'))

    def append() -> None:
        with (folder / "a.jsonl").open("ab") as fh:
            fh.write(b'{"f": "a2"}\n')

    stop, idle = _script([new_files, append, lambda: None])
    got = [r.value["f"] for r in Tailer(directory=folder, stop=stop, idle=idle, poll_s=0)]
    assert got == ["a", "b1", "b2", "a2"]


def test_missing_inputs_fail_before_reading(tmp_path: Path) -> None:
    with pytest.raises(NhiError, match="no such file"):
        Tailer([tmp_path / "nope.log"])
    with pytest.raises(NhiError, match="not a directory"):
        Tailer(directory=tmp_path / "nope")
