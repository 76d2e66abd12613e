"""Evidence nobody changes by looking: previews never write; a suppression is recorded only by
nhi suppress, as evidence (who, when, why, until when); packages count and list exactly those, and
their controls table and OCSF file agree."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from nhi.cli import main
from store.store import Store
from tests.alert_helpers import owner_assigned, replay
from tests.test_engine_semantics import story

# A preview rule that matches every finding of the story: were it recorded, NHI1 and NHI7 would pass.
EVERYTHING = {
    "suppressions": [
        {"id": "all", "reason": "preview only", "expires": "2099-01-01T00:00:00Z", "match": {"detector": "*"}}
    ]
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "e.duckdb"
    replay(path, [*story(), owner_assigned(10)])
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def findings(db: Path) -> dict[str, str]:
    """{detector/reason: finding_id}"""
    with Store.open(db, read_only=True) as store:
        return {f"{d}/{r}": f for f, d, r in store.rows("SELECT finding_id, detector, reason FROM findings")}


def export(capsys: pytest.CaptureFixture[str], db: Path, out: Path, *extra: str) -> dict[str, Any]:
    code, _, err = cli(
        capsys, "export", "--db", str(db), "--framework", "owasp-nhi-top10", "--out", str(out), *extra
    )
    assert code == 0, err
    controls = {c["control"]: c for c in orjson.loads((out / "controls.json").read_bytes())}
    ocsf = [orjson.loads(line) for line in (out / "findings.ocsf.jsonl").read_bytes().splitlines()]
    with (out / "suppressions.csv").open() as fh:
        listed = list(csv.DictReader(fh))
    return {"controls": controls, "ocsf": ocsf, "suppressions": listed}


def assert_controls_and_ocsf_agree(package: dict[str, Any]) -> None:
    """Per control: the findings it counts as suppressed are exactly those whose OCSF records are
    suppressed, and each of those records names a suppression the package lists."""
    listed = {s["suppression_id"]: s for s in package["suppressions"]}
    suppressed_in_ocsf: dict[str, set[str]] = {}
    for r in package["ocsf"]:
        fid = r["finding_info"]["uid"]
        by = r["unmapped"].get("suppressed_by")
        assert (by is not None) == (r["status_id"] == 3) or r["activity_id"] == 3  # a close stays resolved
        if by is not None:
            assert by["rule_id"] in listed and listed[by["rule_id"]]["finding_id"] == fid
            assert (
                by["reason"] == listed[by["rule_id"]]["reason"]
                and by["by"] == listed[by["rule_id"]]["recorded_by"]
            )
            suppressed_in_ocsf.setdefault(fid, set()).add(by["rule_id"])
    counted = {s["finding_id"] for s in package["suppressions"]}
    assert set(suppressed_in_ocsf) == counted
    for c in package["controls"].values():
        ids = set(c["finding_ids"].split())
        assert c["suppressed"] == len(ids & counted), c["control"]
        assert c["status"] != "fail" or c["open"] + c["resolved"] == len(ids - counted)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_preview_changes_nothing_and_later_packages_ignore_it(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(EVERYTHING))
    before = digest(db)
    code, out, _ = cli(capsys, "alerts", "--db", str(db), "--suppressions", str(rules), "--every-change")
    previewed = [orjson.loads(line) for line in out.splitlines()]
    assert code == 0 and all("suppressed_by" in r["unmapped"] for r in previewed)
    assert all(r["status_id"] == 3 for r in previewed if r["activity_id"] != 3)  # a close stays "resolved"
    assert digest(db) == before  # not one byte of the store changed
    package = export(capsys, db, tmp_path / "pkg")
    assert package["controls"]["NHI1"]["status"] == "fail" and package["controls"]["NHI1"]["suppressed"] == 0
    assert package["controls"]["NHI7"]["status"] == "fail"
    assert package["suppressions"] == [] and all(
        "suppressed_by" not in r["unmapped"] for r in package["ocsf"]
    )
    assert_controls_and_ocsf_agree(package)


def test_export_refuses_a_rules_file(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(EVERYTHING))
    code, _, err = cli(
        capsys, "export", "--db", str(db), "--framework", "nist-csf-2", "--out", str(tmp_path / "p"),
        "--suppressions", str(rules),
    )  # fmt: skip
    assert code == 2 and "nhi suppress add" in err and not (tmp_path / "p").exists()


def test_a_recorded_suppression_is_evidence_and_packages_count_it(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = findings(db)
    unowned = ids["unowned-actor/owner-departed"]
    code, out, _ = cli(
        capsys, "suppress", "add", "--db", str(db), "--finding", unowned[:10], "--reason", "owner handover SEC-9",
        "--expires", "30d", "--by", "alice@example.com",
    )  # fmt: skip
    assert code == 0 and f"finding {unowned} suppressed until" in out
    sup_id = out.split()[1].rstrip(":")
    with Store.open(db, read_only=True) as store:
        ((action, finding, reason, actor, recorded_at, expires, seq),) = store.rows(
            "SELECT action, finding_id, reason, actor, recorded_at, expires, seq FROM suppressions"
        )
    assert (action, finding, reason, actor, seq) == (
        "add",
        unowned,
        "owner handover SEC-9",
        "alice@example.com",
        1,
    )
    assert 29.9 < (expires - recorded_at).total_seconds() / 86400 < 30.1
    assert cli(capsys, "verify", "--db", str(db))[0] == 0  # on its own hash chain

    code, out, _ = cli(capsys, "suppress", "list", "--db", str(db), "--output", "json")
    (listed,) = orjson.loads(out)
    assert listed["suppression_id"] == sup_id and listed["status"] == "in force"

    code, out, _ = cli(capsys, "alerts", "--db", str(db), "--every-change")
    records = [orjson.loads(line) for line in out.splitlines()]
    mine = [r for r in records if r["finding_info"]["uid"] == unowned]
    assert mine and all("suppressed_by" in r["unmapped"] for r in mine)
    assert [r["status_id"] for r in mine] == [3, 4]  # the create suppressed; the close stays resolved
    assert mine[0]["unmapped"]["suppressed_by"]["rule_id"] == sup_id
    assert mine[0]["unmapped"]["suppressed_by"]["by"] == "alice@example.com"
    assert all("suppressed_by" not in r["unmapped"] for r in records if r["finding_info"]["uid"] != unowned)

    package = export(capsys, db, tmp_path / "pkg")
    assert [s["suppression_id"] for s in package["suppressions"]] == [sup_id]
    assert package["suppressions"][0]["reason"] == "owner handover SEC-9"
    nhi1 = package["controls"]["NHI1"]
    assert nhi1["suppressed"] == 1 and nhi1["status"] == "fail"  # the token findings still fail it
    assert_controls_and_ocsf_agree(package)
    report = (tmp_path / "pkg" / "report.html").read_text()
    assert sup_id in report and "owner handover SEC-9" in report

    # every NHI1 finding suppressed: the control passes, and the package says why
    for fid in nhi1["finding_ids"].split():
        if fid != unowned:
            assert cli(capsys, "suppress", "add", "--db", str(db), "--finding", fid, "--reason", "accepted",
                       "--expires", "2099-01-01", "--by", "bob")[0] == 0  # fmt: skip
    package = export(capsys, db, tmp_path / "pkg2")
    assert package["controls"]["NHI1"]["status"] == "pass" and package["controls"]["NHI1"]["suppressed"] == 3
    assert_controls_and_ocsf_agree(package)


def test_a_package_counts_what_was_in_force_at_the_end_of_its_range(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = findings(db)["token-outlived-task/outlived-task"]
    cli(
        capsys,
        "suppress",
        "add",
        "--db",
        str(db),
        "--finding",
        token,
        "--reason",
        "r",
        "--expires",
        "7d",
        "--by",
        "a",
    )
    # a range that ended before the suppression was recorded: it is not counted there
    past = export(capsys, db, tmp_path / "past", "--to", "2026-05-05T00:00:00Z")
    assert past["suppressions"] == [] and past["controls"]["NHI7"]["suppressed"] == 0
    assert_controls_and_ocsf_agree(past)
    now = export(capsys, db, tmp_path / "now")
    assert [s["finding_id"] for s in now["suppressions"]] == [token]
    assert_controls_and_ocsf_agree(now)


def test_revoking_is_recorded_too_and_ends_the_suppression(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = findings(db)["token-outlived-task/outlived-task"]
    _, out, _ = cli(capsys, "suppress", "add", "--db", str(db), "--finding", token, "--reason", "r",
                    "--expires", "7d", "--by", "a")  # fmt: skip
    sup_id = out.split()[1].rstrip(":")
    code, out, _ = cli(
        capsys, "suppress", "revoke", "--db", str(db), sup_id, "--reason", "fixed", "--by", "b"
    )
    assert code == 0 and f"revoked {sup_id}" in out
    assert (
        cli(capsys, "suppress", "revoke", "--db", str(db), sup_id, "--reason", "again", "--by", "b")[0] == 2
    )
    _, out, _ = cli(capsys, "suppress", "list", "--db", str(db), "--output", "json")
    assert orjson.loads(out) == []
    _, out, _ = cli(capsys, "suppress", "list", "--db", str(db), "--all", "--output", "json")
    (row,) = orjson.loads(out)
    assert row["status"].startswith("revoked") and row["status"].endswith("by b")
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT action, actor, reason FROM suppressions ORDER BY seq") == [
            ("add", "a", "r"),
            ("revoke", "b", "fixed"),
        ]
    package = export(capsys, db, tmp_path / "pkg")
    assert package["suppressions"] == []
    assert_controls_and_ocsf_agree(package)


def test_an_edited_suppression_breaks_its_chain(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = findings(db)["token-outlived-task/outlived-task"]
    cli(
        capsys,
        "suppress",
        "add",
        "--db",
        str(db),
        "--finding",
        token,
        "--reason",
        "r",
        "--expires",
        "7d",
        "--by",
        "a",
    )
    with Store.open(db) as store:
        store.rows("UPDATE suppressions SET expires = TIMESTAMPTZ '2999-01-01 00:00:00+00'")
    code, out, _ = cli(capsys, "verify", "--db", str(db))
    assert code == 1 and "suppressions" in out and "edited" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--finding", "nope", "--expires", "7d"], "no finding 'nope'"),
        (["--finding", "", "--expires", "7d"], "names several findings"),
        (["--finding", "{token}", "--expires", "2020-01-01"], "is not in the future"),
        (["--finding", "{token}", "--expires", "soon"], "can't read 'soon' as a time"),
    ],
)
def test_add_refuses_what_it_can_not_record(
    db: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    token = findings(db)["token-outlived-task/outlived-task"]
    argv = [a.replace("{token}", token) for a in args]
    code, _, err = cli(capsys, "suppress", "add", "--db", str(db), *argv, "--reason", "r", "--by", "a")
    assert code == 2 and message in err and "Traceback" not in err
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT count(*) FROM suppressions") == [(0,)]


def test_reason_and_author_are_required(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = findings(db)["token-outlived-task/outlived-task"]
    code, _, err = cli(capsys, "suppress", "add", "--db", str(db), "--finding", token, "--reason", "  ",
                       "--expires", "7d", "--by", "a")  # fmt: skip
    assert code == 2 and "--reason can't be empty" in err
    with pytest.raises(SystemExit) as exc:
        main(["suppress", "add", "--db", str(db), "--finding", token, "--reason", "r", "--expires", "7d"])
    assert exc.value.code == 2 and "--by" in capsys.readouterr().err
