"""Every rule of the detectors and the trust score, pinned at its value and its boundary, so a
one-character change to any of them fails a test (`make mutate` measures how many do)."""

from __future__ import annotations

from typing import Any

import pytest

from contract.records import Factor
from contract.settings import Settings
from streams.detectors.common import cap_evidence, human_duration
from streams.detectors.workload import client_platform
from streams.engine import EngineState
from streams.trust import score_of
from tests.scenario import final, play, rec, registered, summary

NHI = "k8s:prod/payments/ledger"
ROLE = "aws:111122223333:role/app"


def used(minute: float, cred: str = "c1", **kw: Any) -> dict[str, Any]:
    return rec("credential.used", minute, nhi=NHI, credential=cred, **kw)


def issued(minute: float, cred: str = "c1", **kw: Any) -> dict[str, Any]:
    return rec("credential.issued", minute, nhi=NHI, credential=cred, **kw)


def factors(records: list[dict[str, Any]], nhi: str = NHI) -> dict[str, tuple[int, str]]:
    out, _ = play(records)
    last = [c for c in out.trust if c.nhi == nhi][-1]
    return {f.name: (f.delta, f.detail) for f in last.factors}


def score(records: list[dict[str, Any]], nhi: str = NHI) -> int:
    out, _ = play(records)
    return [c for c in out.trust if c.nhi == nhi][-1].score


# --- the trust score ---------------------------------------------------------------------------

ATTESTED_SHORT: dict[str, Any] = {"attested": True, "expires_at": "2026-05-04T08:30:00Z"}


def test_an_active_owner_and_short_attested_credentials_score_100() -> None:
    assert score([registered(NHI), issued(1, **ATTESTED_SHORT)]) == 100


def test_deleted_yet_active_is_minus_30_and_a_high_finding_minus_20() -> None:
    got = factors(
        [registered(NHI), issued(1, **ATTESTED_SHORT), rec("identity.deleted", 2, nhi=NHI), used(3)]
    )
    assert got["owner"][0] == -30
    assert got["open_findings"][0] == -20
    assert (
        score([registered(NHI), issued(1, **ATTESTED_SHORT), rec("identity.deleted", 2, nhi=NHI), used(3)])
        == 50
    )


def test_a_departed_owner_is_minus_25() -> None:
    records = [
        registered(NHI, owner="bob"),
        issued(1, **ATTESTED_SHORT),
        rec("owner.departed", 2, owner="bob"),
    ]
    assert factors(records)["owner"][0] == -25


def test_registered_without_an_owner_is_minus_15_and_its_medium_finding_minus_10() -> None:
    records = [rec("identity.registered", 0, nhi=NHI), issued(1, **ATTESTED_SHORT)]
    got = factors(records)
    assert got["owner"] == (-15, "registered without an owner")
    assert got["open_findings"][0] == -10
    assert score(records) == 75


def test_no_known_owner_is_minus_15() -> None:
    assert factors([issued(1, **ATTESTED_SHORT)])["owner"][0] == -15


def test_an_owner_by_creator_only_is_minus_5() -> None:
    records = [registered(NHI, owner="alice", attrs={"owner_source": "creator"}), issued(1, **ATTESTED_SHORT)]
    assert factors(records)["owner"][0] == -5


def test_unattested_credentials_are_minus_10() -> None:
    records = [registered(NHI), issued(1, expires_at="2026-05-04T08:30:00Z")]
    assert factors(records)["attestation"][0] == -10
    assert score(records) == 90


def test_a_credential_that_never_expires_is_minus_15_and_a_long_lived_one_minus_5() -> None:
    never = [registered(NHI), issued(1, attested=True)]
    assert factors(never)["credential_lifetime"][0] == -15
    # exactly long_lived is not longer than it; a second more is
    # (a change that leaves the score where it was makes no trust record)
    exactly = [registered(NHI), issued(0, attested=True, expires_at="2026-05-05T08:00:00Z")]
    assert score(exactly) == 100
    longer = [registered(NHI), issued(0, attested=True, expires_at="2026-05-05T08:00:01Z")]
    assert factors(longer)["credential_lifetime"] == (-5, "live long-lived credentials")
    assert score(longer) == 95


def test_the_findings_factor_is_floored_at_minus_60() -> None:
    # four open high findings: -80, floored
    records = [
        registered(NHI, owner="bob"),
        issued(0, **ATTESTED_SHORT),
        rec("owner.departed", 1, owner="bob"),
    ]
    for i, node in enumerate(("n2", "n3", "n4", "n5")):
        records.append(
            issued(
                2 + i, cred=f"x{i}", attested=True, expires_at="2026-05-04T08:30:00Z", context={"node": "n1"}
            )
        )
        records.append(used(3 + i, cred=f"x{i}", context={"node": node}))
    got = factors(records)
    assert got["open_findings"][0] == -60


def test_the_drift_factor_is_floored_at_minus_15() -> None:
    records = [registered(NHI), rec("task.started", 0, nhi=NHI, task="t", context={"namespace": "a"})]
    records += [used(2 + i, context={"namespace": ns}) for i, ns in enumerate(("b", "c", "d", "e"))]
    got = factors(records)
    assert got["drift"][0] == -15
    one = [
        registered(NHI),
        rec("task.started", 0, nhi=NHI, task="t", context={"namespace": "a"}),
        used(2, context={"namespace": "b"}),
    ]
    assert factors(one)["drift"][0] == -5


def test_a_person_using_a_machine_identity_is_minus_10() -> None:
    machine = {"principal_kind": "machine", "kind_evidence": "instance profile"}
    person = {"principal_kind": "human", "kind_evidence": "console session"}
    records = [registered(NHI), used(1, attrs=machine), used(2, cred="c2", attrs=person)]
    assert factors(records)["human_use"][0] == -10


def test_the_score_is_clamped_at_0_and_100() -> None:
    assert score_of((Factor("a", -70, ""), Factor("b", -60, ""))) == 0
    assert score_of((Factor("a", 30, ""),)) == 100
    assert score_of((Factor("a", -1, ""),)) == 99


# --- token-outlived-task -------------------------------------------------------------------------


def _task_story(used_at: float, expires: str | None = None) -> list[dict[str, Any]]:
    extra = {"expires_at": expires} if expires else {}
    return [
        registered(NHI),
        rec("task.started", 0, nhi=NHI, task="t"),
        issued(0, task="t", attested=True, **extra),
        rec("task.ended", 10, task="t"),
        used(used_at, task="t"),
    ]


def test_a_use_exactly_at_end_plus_grace_is_allowed_a_second_later_is_not() -> None:
    grace = Settings().grace_s / 60
    at_grace = {f.reason for f in final(play(_task_story(10 + grace))[0]).values()}
    assert "used-after-task-end" not in at_grace
    after = {f.reason for f in final(play(_task_story(10 + grace + 1 / 60))[0]).values()}
    assert "used-after-task-end" in after


def test_an_expiry_exactly_at_end_plus_overhang_is_allowed_a_second_later_is_not() -> None:
    within = _task_story(11, "2026-05-04T08:25:00Z")[:-1]  # ends at 08:10, overhang 15 min
    assert not play(within)[0].findings
    beyond = _task_story(11, "2026-05-04T08:25:01Z")[:-1]
    assert {f.reason for f in play(beyond)[0].findings} == {"outlived-task"}


def test_a_repeated_task_end_judges_nothing_new() -> None:
    records = [*_task_story(11)[:-1], rec("task.ended", 20, task="t")]
    out, _ = play(records)
    assert [f.activity for f in out.findings if f.reason == "outlived-task"] == ["create"]


def test_a_credential_revoked_at_the_very_end_is_fine() -> None:
    records = [*_task_story(11)[:-1], rec("credential.revoked", 10, credential="c1")]
    assert not play(records)[0].findings


# --- unowned-actor --------------------------------------------------------------------------------


def test_deleted_takes_precedence_over_a_departed_owner() -> None:
    records = [
        registered(NHI, owner="bob"),
        rec("owner.departed", 1, owner="bob"),
        rec("identity.deleted", 2, nhi=NHI),
        used(3),
    ]
    assert summary(play(records)[0]) == {("unowned-actor", NHI, "identity-deleted", "open")}


# --- context-drift --------------------------------------------------------------------------------


def test_the_baseline_learns_from_exactly_learn_events_events() -> None:
    n = Settings().learn_events
    learning = [used(i, context={"namespace": "a"}) for i in range(n - 1)]
    # the n-th event still learns; the one after it is judged
    nth = [registered(NHI, minute=-1), *learning[: n - 2], used(n, context={"namespace": "b"})]
    assert not [f for f in play(nth)[0].findings if f.detector == "context-drift"]
    after = [registered(NHI, minute=-1), *learning, used(n + 1, context={"namespace": "b"})]
    assert {f.reason for f in play(after)[0].findings if f.detector == "context-drift"} == {"new-namespace"}


@pytest.mark.parametrize("attr", ["pod_uid", "node", "instance", "ip"])
def test_each_credential_attribute_is_judged(attr: str) -> None:
    here = {attr: "10.0.0.1" if attr == "ip" else "one"}
    there = {attr: "10.0.0.2" if attr == "ip" else "two"}
    records = [registered(NHI), issued(0, attested=True, context=here), used(1, context=there)]
    assert {f.reason for f in play(records)[0].findings} == {f"credential-{attr}-changed"}


def test_the_evidence_cap_keeps_the_first_id_and_the_newest() -> None:
    evidence: list[str] = []
    for i in range(30):
        evidence = cap_evidence(evidence, f"e{i}", 5)
    assert evidence == ["e0", "e26", "e27", "e28", "e29"]
    assert cap_evidence(["e0"], "e0", 5) == ["e0"]


def test_durations_read_as_people_write_them() -> None:
    assert [human_duration(s) for s in (119, 120, 7199, 7200, 7260, 172799, 172800, 176400)] == [
        "119s", "2m", "119m", "2h", "2h01m", "47h59m", "2d", "2d1h",
    ]  # fmt: skip


# --- workload credentials -------------------------------------------------------------------------

WORKLOAD = {"session_kind": "workload"}
PERSON = {"principal_kind": "human", "session_kind": "person"}


def _seat_story(gap_s: float) -> list[dict[str, Any]]:
    return [
        registered(ROLE),
        rec("credential.issued", 0, nhi=ROLE, credential="k", attested=True, attrs=WORKLOAD),
        rec(
            "credential.used",
            1,
            nhi="aws:111122223333:user/ops",
            credential="a",
            context={"ip": "81.2.69.9"},
            attrs=PERSON,
        ),
        rec(
            "credential.used",
            1 + gap_s / 60,
            nhi=ROLE,
            credential="k",
            context={"ip": "81.2.69.9"},
            attrs=WORKLOAD,
        ),
    ]


def test_the_seat_window_is_inclusive() -> None:
    window = Settings().seat_window_s
    assert {f.reason for f in play(_seat_story(window))[0].findings} == {"credential-in-others-seat"}
    assert not play(_seat_story(window + 1))[0].findings


@pytest.mark.parametrize(
    ("agent", "platform"),
    [
        ("aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64", "macos"),
        ("aws-cli/1.16.219 Python/3.7.0 Windows/10 botocore/1.12.209", "windows"),
        ("aws-sdk-go/1.44.260 (go1.20.11; linux; amd64) amazon-ssm-agent/3.2.2016.0", "linux"),
        ("aws-cli/1.29.54 ua/2.0 os/linux#6.3.0-kali1-cloud-amd64", "linux/kali"),
        ("Boto3/1.34.120 Python/3.11.9", None),
        (None, None),
    ],
)
def test_client_platforms(agent: str | None, platform: str | None) -> None:
    assert client_platform(agent) == platform


def test_state_round_trips_with_its_new_fields() -> None:
    _, engine = play(_seat_story(60))
    again = EngineState.loads(engine.state.dumps())
    st = again.nhis[ROLE]
    assert st.kind is None and st.workload_uses and st.credentials["k"].workload
