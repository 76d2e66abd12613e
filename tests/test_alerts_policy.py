"""The notification policy: people hear about openings, escalations and status changes, not about
evidence-only updates; routes narrow it, widen it to every change, and throttle repeats."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.feed import AlertMaker, StoreFeed
from alerts.ocsf import to_ocsf
from alerts.policy import NotificationPolicy
from alerts.router import Router
from alerts.routing import parse_routing
from alerts.suppress import Suppressor, parse_rules
from nhi.cli import main
from tests.alert_helpers import T0, alert, finding, read_jsonl, replay
from tests.scenario import rec, registered

A = "k8s:prod/payments/ledger"


def test_each_kind_of_change_and_whether_people_hear_of_it() -> None:
    policy = NotificationPolicy()
    f = finding(severity="medium")
    seen = [
        policy.decide(f, False),
        policy.decide(replace(f, activity="update", evidence=["e1", "e2", "e3"]), False),
        policy.decide(replace(f, activity="update", severity="high"), False),
        policy.decide(replace(f, activity="update", severity="high"), True),
        policy.decide(replace(f, activity="update", severity="high"), False),
        policy.decide(replace(f, activity="close", status="resolved", severity="high"), False),
        policy.decide(replace(f, activity="update", severity="high"), False),
    ]
    assert [(n.change, n.notify) for n in seen] == [
        ("opened", True),
        ("evidence", False),
        ("severity-raised", True),
        ("suppressed", True),
        ("unsuppressed", True),
        ("resolved", True),
        ("reopened", True),
    ]
    assert seen[2].detail == "severity medium -> high"
    assert policy.counts["evidence"] == 1 and policy.counts["opened"] == 1


def test_a_finding_suppressed_from_its_first_change_stays_quiet() -> None:
    policy = NotificationPolicy()
    f = finding()
    assert not policy.decide(f, True).notify
    assert not policy.decide(replace(f, activity="update"), True).notify
    assert not policy.decide(replace(f, activity="close", status="resolved"), True).notify


def test_is_alert_follows_the_policy() -> None:
    maker = AlertMaker()
    f = finding()
    records = [
        to_ocsf(maker.make(x)) for x in (f, replace(f, activity="update"), replace(f, activity="close"))
    ]
    assert [r["is_alert"] for r in records] == [True, False, True]
    assert [r["unmapped"]["notification"]["change"] for r in records] == ["opened", "evidence", "resolved"]


def reopening_story() -> list[dict[str, Any]]:
    """A's owner leaves, A keeps acting (opened, more evidence), gets a new owner (resolved), who
    leaves too (the same finding reopens)."""
    return [
        registered(A, owner="bob@example.com"),
        rec("credential.issued", 1, nhi=A, credential="c1", expires_at="2026-05-05T08:00:00Z"),
        rec("owner.departed", 2, owner="bob@example.com"),
        rec("credential.used", 3, nhi=A, credential="c1"),
        rec("credential.used", 4, nhi=A, credential="c1"),
        rec("identity.updated", 5, nhi=A, owner="carol@example.com"),
        rec("owner.departed", 6, owner="carol@example.com"),
        rec("credential.used", 7, nhi=A, credential="c1"),
        rec("credential.used", 8, nhi=A, credential="c1"),
    ]


def test_the_store_feed_knows_the_previous_state_even_from_mid_history(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    replay(db, reopening_story())
    changes = [a.verdict for a in StoreFeed(str(db), Suppressor()).poll()]
    assert [(n.change, n.notify) for n in changes] == [
        ("opened", True),
        ("evidence", False),
        ("resolved", True),
        ("reopened", True),
        ("evidence", False),
    ]
    # Starting after the resolution: the first change read is still a reopening, not "evidence"
    late = StoreFeed(str(db), Suppressor(), since=T0 + timedelta(minutes=6, seconds=30)).poll()
    assert [a.verdict.change for a in late] == ["reopened", "evidence"]


def test_nhi_alerts_prints_what_people_are_told_and_every_change_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "e.duckdb"
    replay(db, reopening_story())
    assert main(["alerts", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    records = [orjson.loads(line) for line in out.splitlines()]
    assert [r["unmapped"]["notification"]["change"] for r in records] == ["opened", "resolved", "reopened"]
    assert all(r["is_alert"] for r in records)
    assert "5 finding changes: opened 1, resolved 1, reopened 1, evidence 2" in err
    assert main(["alerts", "--db", str(db), "--every-change", "--format", "text"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and sum("evidence" in line for line in lines) == 2


def _router(tmp_path: Path, routes: list[dict[str, Any]]) -> Router:
    names = {d for r in routes for d in r["to"]}
    cfg = {
        "dead_letters": str(tmp_path / "dead.jsonl"),
        "destinations": {n: {"type": "jsonl", "path": str(tmp_path / f"{n}.jsonl")} for n in names},
        "routes": routes,
    }
    return Router(parse_routing(cfg, "test")[0])


def test_routes_take_notified_changes_unless_they_ask_for_every_change_or_fewer(tmp_path: Path) -> None:
    router = _router(
        tmp_path,
        [
            {"name": "people", "to": ["people"]},
            {"name": "archive", "to": ["archive"], "every_change": True},
            {"name": "pager", "to": ["pager"], "notify_on": ["opened"]},
        ],
    )
    maker = AlertMaker()
    f = finding()
    for change in (f, replace(f, activity="update"), replace(f, activity="close", status="resolved")):
        router.submit(maker.make(change))
    router.close()
    got = {
        n: [r["activity_name"] for r in read_jsonl(tmp_path / f"{n}.jsonl")]
        for n in ("people", "archive", "pager")
    }
    assert got == {
        "people": ["Create", "Close"],
        "archive": ["Create", "Update", "Close"],
        "pager": ["Create"],
    }


def test_a_route_throttle_holds_repeats_per_identity_but_lets_resolutions_through(tmp_path: Path) -> None:
    router = _router(
        tmp_path, [{"name": "chat", "to": ["chat"], "throttle": {"window_s": 600, "per": "nhi"}}]
    )
    maker = AlertMaker()
    burst = [finding(fid=f"f{i}", detector="context-drift", reason=f"new-{a}") for i, a in enumerate("xyz")]
    burst = [replace(f, last_seen=T0 + timedelta(minutes=i)) for i, f in enumerate(burst)]
    for f in burst:
        router.submit(maker.make(f))
    router.submit(
        maker.make(
            replace(burst[1], activity="close", status="resolved", last_seen=T0 + timedelta(minutes=4))
        )
    )
    later = replace(
        finding(fid="f9"), first_seen=T0 + timedelta(minutes=20), last_seen=T0 + timedelta(minutes=20)
    )
    router.submit(maker.make(later))
    report = router.close()
    sent = [(r["finding_info"]["uid"], r["activity_name"]) for r in read_jsonl(tmp_path / "chat.jsonl")]
    assert sent == [("f0", "Create"), ("f1", "Close"), ("f9", "Create")]
    assert report.throttled == {"chat": 2}
    assert any("2 notification(s) held back" in line for line in report.lines())


def test_a_suppression_rule_keeps_its_findings_away_from_people(tmp_path: Path) -> None:
    rules = parse_rules(
        {
            "suppressions": [
                {"id": "r", "reason": "known", "expires": "2099-01-01T00:00:00Z", "match": {"nhi": A}}
            ]
        },
        "t",
    )
    router = _router(tmp_path, [{"name": "people", "to": ["people"]}])
    router.submit(alert(suppressed=True))
    maker = AlertMaker(Suppressor(rules))
    router.submit(maker.make(finding(nhi=A)))
    router.close()
    assert read_jsonl(tmp_path / "people.jsonl") == []


def test_the_demo_goes_from_every_change_to_what_people_act_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--db", str(db), "--identities", "150", "--seed", "3", "-q"]) == 0
    capsys.readouterr()
    assert main(["alerts", "--db", str(db), "--every-change"]) == 0
    every = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["alerts", "--db", str(db)]) == 0
    notified = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    findings = {r["finding_info"]["uid"] for r in every}
    updates = [r for r in every if r["activity_name"] == "Update"]
    assert updates and all(r["unmapped"]["notification"]["change"] == "evidence" for r in updates)
    assert len(notified) == len(every) - len(updates)  # every open and close, no evidence-only update
    assert len([r for r in notified if r["activity_name"] == "Create"]) == len(findings)
    assert [r["metadata"]["uid"] for r in notified] == [r["metadata"]["uid"] for r in every if r["is_alert"]]
