"""nhi demo end to end: the generator's ground truth is caught through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhi.cli import main


def test_demo_catches_its_ground_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.duckdb"
    code = main(["demo", "--db", str(db), "--identities", "150", "--seed", "3", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    assert "recall 100.0%, precision 100.0%" in out
    for detector in ("token-outlived-task", "unowned-actor", "context-drift"):
        assert detector in out
    assert "try next:" in out and "--named trust-leaderboard" in out
    assert db.exists()


def test_demo_explains_a_too_small_organisation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--db", str(tmp_path / "d.duckdb"), "--identities", "5"])
    assert code == 1 and "identities must be at least" in capsys.readouterr().err
