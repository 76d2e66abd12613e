"""nhi explain: one finding's story from the store, in order, with its owner, trust factors and runbook."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from nhi.cli import main
from store import Store
from tests.alert_helpers import owner_assigned, replay
from tests.test_engine_semantics import A, story


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "e.duckdb"
    replay(path, [*story(), owner_assigned(10)])
    return path


def finding_id(db: Path, reason: str) -> str:
    with Store.open(db, read_only=True) as store:
        return str(store.rows("SELECT finding_id FROM findings WHERE reason = $r", {"r": reason})[0][0])


def test_the_story_of_a_replayed_credential(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fid = finding_id(db, "used-after-task-end")
    assert main(["explain", "--db", str(db), fid[:10]]) == 0
    out = capsys.readouterr().out
    sections = [out.index(h) for h in ("What it means", "What happened", "Who", "What to do", "Read")]
    assert sections == sorted(sections)
    happened = out[out.index("What happened") : out.index("\nWho")].splitlines()[1:]
    times = [line.split()[0] + line.split()[1] for line in happened]
    assert times == sorted(times)  # in time order
    assert "task.ended" in happened[0] and "<- cause" in happened[0]  # the task end opened it
    assert any("credential.used" in line and "node n7" in line for line in happened)
    assert any("finding" in line and "create high open" in line for line in happened)
    assert "owner bob@example.com (active)" in out
    assert "open_findings" in out and "-20" in out  # trust factors with their deltas
    assert "1. Treat as a possible compromise. Revoke credential jti-1" in out
    assert "owasp.org" in out


def test_json_output_and_prefix_lookup(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fid = finding_id(db, "owner-departed")
    assert main(["explain", "--db", str(db), fid, "--format", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["finding"]["finding_id"] == fid and doc["finding"]["status"] == "resolved"
    assert [t["kind"] for t in doc["timeline"]].count("finding") == 2  # opened, then resolved
    assert doc["identity"]["nhi"] == A and doc["trust_factors"]
    assert all({"name", "delta", "detail", "evidence"} <= set(f) for f in doc["trust_factors"])
    assert doc["runbook"]["steps"] and doc["runbook"]["confidence"] == "high"


def test_unknown_and_ambiguous_ids_are_explained(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--db", str(db), "nope"]) == 2
    assert "no finding 'nope'" in capsys.readouterr().err
    assert main(["explain", "--db", str(db), ""]) == 2
    assert "matches several findings" in capsys.readouterr().err
