"""Every file in ../shared/datasets replays with --format auto: no crash, rejects with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhi.cli import main
from store.store import Store
from tests.real_datasets import datasets_dir


def test_every_dataset_file_replays_with_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # every file, not only the log samples: labels, the manifest and licence texts must not crash a run either
    files = sorted(p for p in datasets_dir().rglob("*") if p.is_file())
    assert len(files) >= 15
    db = tmp_path / "all.duckdb"
    code = main(["replay", "--db", str(db), "--format", "auto", "-q", *map(str, files)])
    out = capsys.readouterr().out
    assert code == 0, out
    with Store.open(db) as store:
        events = store.rows("SELECT source, count(*) FROM events GROUP BY ALL")
        rejects = store.rows("SELECT reason, location FROM rejects")
        findings = store.rows("SELECT count(*) FROM findings")[0][0]
    sources = {s for s, _ in events}
    # every vendor format contributed events
    assert {"k8s-audit", "cloudtrail", "gcp-audit", "entra", "okta", "github-audit"} <= sources, sources
    assert all(reason and location for reason, location in rejects)
    assert not [r for r in rejects if r[0].startswith("parser error")], "a parser crashed on a real record"
    # the five malformed CloudTrail originals are kept as rejects, located in their file
    malformed = [loc for _, loc in rejects if "malformed-originals" in loc]
    assert len(malformed) == 5
    # No inventory is loaded: identities that were merely never registered are no findings, and
    # neither are people or provider-managed identities (tests/test_real_cloudtrail.py has the rest).
    with Store.open(db) as store:
        noisy = store.rows(
            "SELECT f.nhi, f.reason FROM findings f JOIN identities i USING (nhi) "
            "WHERE f.reason = 'never-registered' OR i.kind = 'human' OR i.managed_by IS NOT NULL"
        )
    assert noisy == []
    assert findings >= 1  # the IMDS-exfiltration rule tests still give their credential finding
    # a second replay is idempotent
    code = main(["replay", "--db", str(db), "--format", "auto", "-q", *map(str, files)])
    assert code == 0 and "findings 0 opened" in capsys.readouterr().out


def test_cloudtrail_root_compromise_story_keeps_the_creator_as_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Panther's story: stolen root credentials create user tracy_stone and an access key, which is
    then used. The log shows who created the user: root is its (weaker) owner, not an alert; the
    trust score says the owner is only the creator."""
    folder = datasets_dir() / "cloudtrail" / "panther-scenarios"
    files = [
        folder / "compromised-root-creds__victim_cloudtrail.jsonl",
        folder / "compromised-root-creds__attacker_cloudtrail.jsonl",
    ]
    db = tmp_path / "story.duckdb"
    assert main(["replay", "--db", str(db), "--format", "auto", "-q", *map(str, files)]) == 0
    capsys.readouterr()
    nhi = "aws:493859302102:user/tracy_stone"
    with Store.open(db) as store:
        sequence = store.rows(
            "SELECT type, credential FROM events WHERE nhi = $nhi ORDER BY time, type", {"nhi": nhi}
        )
        findings = store.rows("SELECT detector, nhi, reason, severity, status, credential FROM findings")
        people = store.rows("SELECT nhi, kind_evidence FROM identities WHERE kind = 'human'")
        owner = store.rows("SELECT owner, owner_source, trust FROM identities WHERE nhi = $nhi", {"nhi": nhi})
    assert sequence == [
        ("identity.registered", None),
        ("credential.issued", "AKIASWJJJ66ZZZII4IYY"),
        ("credential.used", "AKIASWJJJ66ZZZII4IYY"),
    ]
    assert findings == []
    # 100 - 5 (creator-owned) - 10 (unattested) - 15 (an access key never expires)
    assert owner == [("aws:493859302102:root", "creator", 70)]
    # the root console session: kept as a person, not judged
    assert people == [("aws:493859302102:root", "the account's root user (console sign-in)")]
