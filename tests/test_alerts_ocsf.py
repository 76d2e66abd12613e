"""OCSF Detection Finding records, the alert lifecycle, suppression rules and nhi alerts."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
import yaml

from alerts.context import NhiContext, placement
from alerts.feed import StoreFeed
from alerts.ocsf import to_ocsf
from alerts.suppress import Suppressor, parse_rules
from contract.compliance import FRAMEWORKS, controls_for, markdown_table
from contract.errors import ConfigError, StoreError
from nhi.cli import main
from store import Store
from tests.alert_helpers import T0, alert, finding, owner_assigned, replay, story_store
from tests.test_engine_semantics import A, story

RULES = {
    "suppressions": [
        {
            "id": "drift-known",
            "reason": "node moves are expected during the migration (CHG-7)",
            "expires": "2099-01-01T00:00:00Z",
            "match": {"detector": "context-drift", "nhi": "k8s:prod/*", "namespace": "payments"},
        },
        {
            "id": "expired-rule",
            "reason": "was tuned last year",
            "expires": "2020-01-01T00:00:00Z",
            "match": {"detector": "token-outlived-task"},
        },
    ]
}


def test_record_has_the_detection_finding_shape() -> None:
    rec = to_ocsf(alert())
    assert (rec["class_uid"], rec["category_uid"], rec["activity_id"], rec["type_uid"]) == (
        2004,
        2,
        1,
        200401,
    )
    assert (rec["severity_id"], rec["status_id"], rec["is_alert"]) == (4, 1, True)
    assert rec["time"] == int((T0 + timedelta(minutes=5)).timestamp() * 1000)  # epoch ms of the change
    assert rec["metadata"]["version"] == "1.8.0"
    assert rec["metadata"]["product"]["uid"] == "nhi-evidence"
    info = rec["finding_info"]
    assert info["uid"] == "f1" and info["title"] and info["desc"]
    assert info["analytic"] == {
        **info["analytic"],
        "name": "token-outlived-task",
        "type_id": 1,
        "type": "Rule",
    }
    assert info["first_seen_time"] == int(T0.timestamp() * 1000)
    assert [e["uid"] for e in info["related_events"]] == ["e1", "e2"]
    assert not any("product_uid" in e for e in info["related_events"])  # deprecated since OCSF 1.4.0
    assert [r["type"] for r in rec["resources"]] == ["Non-Human Identity", "Credential"]
    assert rec["resources"][0]["owner"] == {
        "uid": "team-payments",
        "name": "team-payments",
        "type_id": 99,
        "type": "Team",
    }
    assert [e["uid"] for e in rec["evidences"]] == ["e1", "e2"]
    controls = {(c["standards"][0], c["control"]) for c in rec["unmapped"]["compliance"]}
    assert ("OWASP Non-Human Identities Top 10 (2025)", "NHI7") in controls
    assert ("NIST CSF 2.0", "PR.AA-01") in controls
    assert ("NIST SP 800-207", "Tenet 3") in controls


@pytest.mark.parametrize(("severity", "expected"), [("low", 2), ("medium", 3), ("high", 4)])
def test_severity_ids(severity: str, expected: int) -> None:
    assert to_ocsf(alert(finding(severity=severity)))["severity_id"] == expected


def test_update_and_close_are_activities_of_the_same_alert() -> None:
    upd = to_ocsf(alert(finding(activity="update"), uid="c2"))
    close = to_ocsf(alert(finding(activity="close"), uid="c3"))
    assert (upd["activity_id"], upd["type_uid"], upd["status_id"]) == (2, 200402, 1)
    # the policy notifies a resolution (and not an update judged on its own: it only adds evidence)
    assert (close["activity_id"], close["type_uid"], close["status_id"], close["is_alert"]) == (
        3,
        200403,
        4,
        True,
    )
    assert upd["is_alert"] is False
    assert upd["finding_info"]["uid"] == close["finding_info"]["uid"] == "f1"
    assert {c["status"] for c in close["unmapped"]["compliance"]} == {"Pass"}


def test_context_drift_controls_depend_on_the_reason() -> None:
    copied = controls_for("context-drift", "credential-node-changed")["owasp-nhi-top10"]
    moved = controls_for("context-drift", "new-namespace")["owasp-nhi-top10"]
    assert "NHI2" in copied and "NHI8" not in copied
    assert "NHI8" in moved and "NHI2" not in moved


def test_every_mapped_control_exists_and_the_table_lists_the_gaps() -> None:
    for det in ("token-outlived-task", "unowned-actor", "context-drift"):
        for key, ids in controls_for(det, "credential-x").items():
            for cid in ids:
                FRAMEWORKS[key].control(cid)  # raises for a control the catalogue lacks
    table = markdown_table()
    assert "| `token-outlived-task` |" in table and "NHI5 Overprivileged NHI" in table


def test_namespace_comes_from_the_nhi_id() -> None:
    assert placement("k8s:prod-eu-1/payments/ledger") == ("prod-eu-1", "payments")
    assert placement("spiffe://example.org/ns/analytics/sa/etl") == (None, "analytics")
    assert placement("aws:123:role/x") == (None, None)


def test_one_alert_per_cause_updated_then_closed_when_the_owner_is_assigned(tmp_path: Path) -> None:
    changes = replay(tmp_path / "e.duckdb", [*story(), owner_assigned(10)])
    unowned = [f for f in changes if f.detector == "unowned-actor"]
    assert [f.activity for f in unowned] == ["create", "close"]
    assert len({f.finding_id for f in unowned}) == 1
    alerts = StoreFeed(str(tmp_path / "e.duckdb"), Suppressor()).poll()
    records = [to_ocsf(a) for a in alerts if a.finding.detector == "unowned-actor"]
    assert [(r["activity_id"], r["status_id"]) for r in records] == [(1, 1), (3, 4)]
    assert "active owner bob@example.com registered" in records[1]["status_detail"]


def test_suppression_rules_match_and_expired_rules_stop_applying(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    story_store(db)
    rules = parse_rules(RULES, "test")
    alerts = StoreFeed(str(db), Suppressor(rules)).poll()
    by_detector = {a.finding.detector: a for a in alerts}
    drift = to_ocsf(by_detector["context-drift"])
    assert drift["status_id"] == 3 and drift["is_alert"] is False
    assert drift["unmapped"]["suppressed_by"]["rule_id"] == "drift-known"
    assert "CHG-7" in drift["status_detail"]
    assert by_detector["token-outlived-task"].suppression is None  # its rule has expired
    with Store.open(db, read_only=True) as store:
        # a preview: nothing recorded, the audit trail is as it was
        assert store.rows("SELECT count(*) FROM alert_suppressions") == [(0,)]
        assert store.rows("SELECT count(*) FROM suppressions") == [(0,)]


def test_a_rule_naming_an_owner_does_not_match_an_unowned_nhi() -> None:
    rules = parse_rules({"suppressions": [{**RULES["suppressions"][0], "match": {"owner": "*"}}]}, "t")  # type: ignore[index]
    assert Suppressor(rules).check(finding(), NhiContext()) is None
    assert Suppressor(rules).check(finding(), NhiContext(owner="x")) is not None


def test_bad_rules_files_are_refused_with_the_field_named() -> None:
    with pytest.raises(ConfigError, match=r"suppressions\.0\.expires"):
        parse_rules({"suppressions": [{"id": "a", "reason": "r", "match": {}}]}, "t")
    with pytest.raises(ConfigError, match="used twice"):
        parse_rules({"suppressions": [RULES["suppressions"][0]] * 2}, "t")  # type: ignore[index]


def test_nhi_alerts_prints_ocsf_lines_and_text_with_since_and_env_suppressions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "e.duckdb"
    story_store(db)
    rules = tmp_path / "s.yaml"
    rules.write_text(yaml.safe_dump(RULES))
    monkeypatch.setenv("NHI_SUPPRESSIONS", str(rules))
    assert main(["alerts", "--db", str(db), "--every-change"]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [orjson.loads(line) for line in lines]
    assert len(records) == 4 and {r["class_uid"] for r in records} == {2004}
    assert sorted(r["status_id"] for r in records) == [1, 1, 1, 3]
    assert main(["alerts", "--db", str(db)]) == 0  # suppressed from the start: kept, not notified
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert (
        main(
            [
                "alerts",
                "--db",
                str(db),
                "--every-change",
                "--format",
                "text",
                "--since",
                "2026-05-04T08:06:00Z",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 3 and all("08:08:00Z" in t for t in text)
    assert any("[suppressed by drift-known" in t for t in text)


def test_nhi_alerts_follow_prints_changes_as_they_land(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    story_store(db)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nhi",
            "alerts",
            "--db",
            str(db),
            "--follow",
            "--interval",
            "0.2",
            "--format",
            "text",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline() for _ in range(4)]
        assert all("create" in line for line in first)
        for _ in range(100):  # the poller holds the file open for moments: DuckDB then refuses a writer
            try:
                replay(db, [*story(), owner_assigned(10)])  # lands while nhi alerts polls
                break
            except StoreError:
                time.sleep(0.05)
        line = proc.stdout.readline()
        assert "close" in line and "unowned-actor" in line and A in line
    finally:
        proc.terminate()
        proc.wait()
