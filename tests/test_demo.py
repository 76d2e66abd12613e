"""nhi demo end to end: the generator's ground truth is caught through the whole pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
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
    assert code == 2 and "identities must be at least" in capsys.readouterr().err


def test_try_next_hints_run_in_a_fresh_shell(tmp_path: Path) -> None:
    """After `make demo`, nhi is .venv/bin/nhi, not on PATH: the hints must say so to work."""
    nhi = Path(sys.executable).with_name("nhi")
    assert nhi.exists(), "the nhi script is installed with the package"
    fresh = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    root = Path(__file__).resolve().parents[1]
    started = os.path.relpath(nhi, root)
    db = tmp_path / "demo.duckdb"
    demo = subprocess.run(
        [started, "demo", "--db", str(db), "--identities", "150", "-q"],
        cwd=root,
        env=fresh,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    hints = [line.strip() for line in demo.stdout.split("try next:")[1].splitlines() if line.strip()]
    assert len(hints) == 3 and all(h.startswith(started) for h in hints), hints
    for hint in hints:
        ran = subprocess.run(
            ["bash", "-c", hint], cwd=root, env=fresh, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, (hint, ran.stderr)
        assert ran.stdout.strip()
