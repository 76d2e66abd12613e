"""The nhi command as users run it: exit codes, outputs, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from nhi.cli import main
from tests.test_engine_semantics import story


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "story.jsonl"
    lines = [orjson.dumps(r).decode() for r in story()]
    lines.insert(3, '{"type":"credential.used","time":"not a time","nhi":"x"}')
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_counts_and_exit_codes(
    tmp_path: Path, story_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "e.duckdb")
    code, out, _ = run_cli(capsys, "replay", "--db", db, str(story_file))
    assert code == 0
    assert "events 12 (stored 12," in out and "findings 4 opened" in out and "rejects 1" in out
    assert "HIGH" in out and "unowned-actor" in out  # alerts as they fire
    code, out, _ = run_cli(capsys, "replay", "--db", db, "--strict", "-q", str(story_file))
    assert code == 1
    assert "events 12 (stored 0, already stored or repeated 12)" in out and "findings 0 opened" in out


def test_replay_from_stdin(
    tmp_path: Path, story_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(story_file.read_bytes())))
    code, out, _ = run_cli(capsys, "replay", "--db", str(tmp_path / "s.duckdb"), "-q", "-")
    assert code == 0 and "events 12" in out


def test_missing_file_is_a_clear_error_and_leaves_no_store(
    tmp_path: Path, story_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.duckdb"
    code, _, err = run_cli(capsys, "replay", "--db", str(db), str(story_file), str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl: no such file" in err
    assert "Traceback" not in err
    assert not db.exists() and not Path(f"{db}.wal").exists()  # checked before anything was read


def test_query_outputs(tmp_path: Path, story_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "q.duckdb")
    run_cli(capsys, "replay", "--db", db, "-q", str(story_file))
    code, out, _ = run_cli(
        capsys,
        "query",
        "--db",
        db,
        "--output",
        "json",
        "SELECT detector, status FROM findings ORDER BY detector, reason",
    )
    assert code == 0
    rows = json.loads(out)
    assert (
        isinstance(rows, list)
        and len(rows) == 4
        and rows[0] == {"detector": "context-drift", "status": "open"}
    )
    code, out, _ = run_cli(
        capsys,
        "query",
        "--db",
        db,
        "--named",
        "identity-timeline",
        "-p",
        "nhi=k8s:prod/payments/ledger",
        "-O",
        "jsonl",
    )
    kinds = {json.loads(line)["kind"] for line in out.splitlines()}
    assert code == 0 and kinds == {"event", "finding", "trust"}
    code, out, _ = run_cli(capsys, "query", "--db", db, "-O", "csv", "SELECT count(*) AS n FROM rejects")
    assert out.splitlines() == ["n", "1"]
    out_file = tmp_path / "f.parquet"
    code, _, _ = run_cli(
        capsys, "query", "--db", db, "-O", "parquet", "--out", str(out_file), "SELECT * FROM findings"
    )
    import pyarrow.parquet as pq

    assert code == 0 and pq.read_table(out_file).num_rows == 4


def test_query_refuses_writes_and_file_access(
    tmp_path: Path, story_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "r.duckdb")
    run_cli(capsys, "replay", "--db", db, "-q", str(story_file))
    code, _, err = run_cli(capsys, "query", "--db", db, "DROP TABLE findings")
    assert code == 2 and "read-only" in err
    code, _, err = run_cli(capsys, "query", "--db", db, "SELECT * FROM read_csv('/etc/passwd')")
    assert code == 2 and "file and network access from SQL is disabled" in err
    code, _, err = run_cli(capsys, "query", "--db", db, "--named", "identity-timelin")
    assert code == 2 and "did you mean identity-timeline" in err
    code, _, err = run_cli(capsys, "query", "--db", db, "--named", "identity-timeline")
    assert code == 2 and "nhi" in err


def test_queries_lists_every_named_query(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "queries")
    for name in (
        "tokens-outliving-tasks",
        "unowned-identities",
        "context-drift",
        "trust-leaderboard",
        "identity-timeline",
        "coverage",
    ):
        assert f"\n{name}\n" in f"\n{out}"
    assert "-p nhi=" in out


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["required"] == ["type", "time"] and "context" in schema["properties"]


def test_inventory_and_leavers_then_activity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "i.duckdb")
    inv = tmp_path / "inv.csv"
    inv.write_text("nhi,owner,purpose\nk8s:prod/payments/ledger,alice@example.com,ledger\n")
    leavers = tmp_path / "leavers.json"
    leavers.write_text('[{"owner": "alice@example.com", "departed_at": "2026-05-04T08:30:00Z"}]')
    use = tmp_path / "use.jsonl"
    use.write_text(
        '{"type":"credential.used","time":"2026-05-04T09:00:00Z","nhi":"k8s:prod/payments/ledger","credential":"c1"}\n'
    )
    assert (
        run_cli(capsys, "inventory", "import", "--db", db, "--as-of", "2026-05-01T00:00:00Z", str(inv))[0]
        == 0
    )
    assert run_cli(capsys, "leavers", "import", "--db", db, str(leavers))[0] == 0
    code, out, _ = run_cli(capsys, "replay", "--db", db, str(use))
    assert code == 0 and "owner alice@example.com has departed" in out


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--strict" in out and "exit status" in out


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("nhi")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("nhi ")


WARNING = "built-in default key"


def test_the_default_fingerprint_key_is_quiet_on_a_scratch_store_and_warned_about_elsewhere(
    tmp_path: Path, story_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NHI_FINGERPRINT_KEY", raising=False)
    db = str(tmp_path / "k.duckdb")
    _, _, err = run_cli(capsys, "replay", "--db", db, "-q", str(story_file))
    assert WARNING not in err  # a new store: trying the tool out
    _, _, err = run_cli(capsys, "replay", "--db", db, "-q", str(story_file))
    assert WARNING in err and "NHI_FINGERPRINT_KEY" in err  # a store that is being kept
    monkeypatch.setenv("NHI_FINGERPRINT_KEY", "a-key-of-our-own-0123456789")
    _, _, err = run_cli(capsys, "replay", "--db", db, "-q", str(story_file))
    assert WARNING not in err
    monkeypatch.delenv("NHI_FINGERPRINT_KEY")
    owners = tmp_path / "owners.csv"
    owners.write_text("nhi,owner\nk8s:prod/a/b,alice\n")
    _, _, err = run_cli(capsys, "inventory", "import", "--db", db, str(owners))
    assert WARNING in err
    _, _, err = run_cli(capsys, "demo", "--db", str(tmp_path / "demo.duckdb"), "--identities", "40")
    assert WARNING not in err
