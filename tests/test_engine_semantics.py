"""Whole-engine properties: order independence within the window, idempotence, resumable state,
and the trust score's explanation and recovery."""

from __future__ import annotations

from typing import Any

from contract.settings import Settings
from streams.engine import EngineState
from tests.scenario import final, play, rec, registered, summary

A = "k8s:prod/payments/ledger"
B = "vault:approle/billing"


def story() -> list[dict[str, Any]]:
    """Two NHIs, a departed owner, a token outliving its task and a replayed credential."""
    return [
        registered(A, owner="alice@example.com"),
        registered(B, owner="team-billing"),
        rec("task.started", 1, nhi=A, task="pod:p1", context={"namespace": "payments"}),
        rec(
            "credential.issued",
            1,
            nhi=A,
            credential="jti-1",
            task="pod:p1",
            attested=True,
            expires_at="2026-05-05T08:00:00Z",
            context={"namespace": "payments", "node": "n1"},
        ),
        rec(
            "credential.issued",
            2,
            nhi=B,
            credential="acc-1",
            task="alloc:9",
            expires_at="2026-05-04T08:12:00Z",
        ),
        rec("credential.used", 3, nhi=A, credential="jti-1", context={"namespace": "payments", "node": "n1"}),
        rec("credential.used", 4, nhi=B, credential="acc-1", context={"ip": "10.1.1.1"}),
        rec("task.ended", 5, task="pod:p1"),
        rec("task.ended", 6, task="alloc:9"),
        rec("owner.departed", 7, owner="alice@example.com"),
        rec("credential.used", 8, nhi=A, credential="jti-1", context={"namespace": "payments", "node": "n7"}),
        rec("credential.revoked", 9, credential="acc-1"),
    ]


EXPECTED = {
    ("token-outlived-task", A, "outlived-task", "open"),
    ("token-outlived-task", A, "used-after-task-end", "open"),
    ("unowned-actor", A, "owner-departed", "open"),
    ("context-drift", A, "credential-node-changed", "open"),
}


def test_story_gives_exactly_the_expected_findings() -> None:
    out, _ = play(story())
    assert summary(out) == EXPECTED


def test_any_arrival_order_within_the_window_gives_the_same_findings() -> None:
    # The story spans 9 minutes, so a 10 minute window covers any shuffle of it.
    wide = Settings(reorder_window_s=600)
    expected_final = {fid: (f.status, f.evidence) for fid, f in final(play(story())[0]).items()}
    for seed in range(25):
        out, engine = play(story(), settings=wide, shuffle_seed=seed)
        assert {fid: (f.status, f.evidence) for fid, f in final(out).items()} == expected_final, seed
        assert engine.buffer.late == 0


def test_events_later_than_the_window_are_counted_as_late() -> None:
    records = story()
    out, engine = play([*records[1:], records[0]], settings=Settings(reorder_window_s=60))
    # the registration, and the owner departure it brings along from the owner index
    assert engine.buffer.late == 2
    # Beyond the window order is lost: A acted "before" it was registered (with no inventory for
    # its cluster yet, that is no finding), and the departure, applied before the registration
    # named alice as owner, no longer counts.
    got = summary(out)
    assert not [f for f in got if f[0] == "unowned-actor"]
    assert ("token-outlived-task", A, "outlived-task", "open") in got


def test_replaying_the_same_input_twice_changes_nothing() -> None:
    out1, engine = play(story())
    out2, _ = play(story(), state=engine.state)
    assert out2.findings == [] and out2.trust == []
    assert out1.findings


def test_state_survives_a_snapshot_and_continues_the_history() -> None:
    records = story()
    first, second = records[:8], records[8:]
    _, engine = play(first)
    state = EngineState.loads(engine.state.dumps())
    out2, _ = play(second, state=state)
    whole, _ = play(records)
    assert {(f.finding_id, f.status) for f in final(out2).values()} <= {
        (f.finding_id, f.status) for f in final(whole).values()
    }
    assert ("unowned-actor", A, "owner-departed", "open") in summary(out2)


def test_trust_score_explains_itself_and_recovers() -> None:
    records = [
        registered(A, owner="alice@example.com"),
        rec("credential.issued", 1, nhi=A, credential="k1", attested=True, expires_at="2026-05-04T09:00:00Z"),
        rec("owner.departed", 2, owner="alice@example.com"),
        rec("credential.used", 3, nhi=A, credential="k1"),
        rec("identity.updated", 4, nhi=A, owner="team-payments"),
    ]
    out, _ = play(records)
    scores = [t.score for t in out.trust]
    assert scores[0] == 100
    low = min(out.trust, key=lambda t: t.score)
    factors = {f.name: f for f in low.factors}
    assert factors["owner"].delta == -25 and factors["owner"].evidence  # the departure event
    assert factors["open_findings"].delta == -20
    assert low.score == 100 - 25 - 20
    assert out.trust[-1].score == 100 and out.trust[-1].previous == low.score
    for t in out.trust:
        assert t.score == max(0, min(100, 100 + sum(f.delta for f in t.factors)))


def test_never_expiring_unattested_credential_lowers_trust() -> None:
    out, _ = play(
        [registered(B), rec("credential.issued", 1, nhi=B, credential="static-1", method="static-secret")]
    )
    last = out.trust[-1]
    assert {f.name: f.delta for f in last.factors} == {
        "owner": 0,
        "attestation": -10,
        "credential_lifetime": -15,
    }
    assert last.score == 75


def test_unresolvable_event_raises_nothing() -> None:
    out, engine = play(
        [rec("task.ended", 1, task="pod:unknown"), rec("credential.revoked", 2, credential="x")]
    )
    assert not out.findings and not engine.state.nhis


def test_settings_from_environment() -> None:
    from contract.settings import load_settings

    s = load_settings({"NHI_GRACE_S": "30", "NHI_LEARN_EVENTS": "5"})
    assert (s.grace_s, s.learn_events, s.max_overhang_s) == (30.0, 5, 900.0)
    assert isinstance(s, Settings)


def test_bad_setting_is_a_clear_error() -> None:
    import pytest

    from contract.errors import ConfigError
    from contract.settings import load_settings

    with pytest.raises(ConfigError, match="NHI_GRACE_S"):
        load_settings({"NHI_GRACE_S": "soon"})


def test_a_person_using_a_machine_identity_is_a_recorded_fact_not_a_second_identity() -> None:
    # OWASP NHI10: a role its workloads use is also used from the console by a person.
    role = "aws:111122223333:role/deployer"
    machine = {
        "principal_kind": "machine",
        "kind_evidence": "EC2 instance profile",
        "session_kind": "workload",
    }
    person = {"principal_kind": "human", "kind_evidence": "console session", "session_kind": "person"}
    out, engine = play(
        [
            registered(role, owner="team-platform"),
            rec("credential.used", 1, nhi=role, credential="ASIA1", attrs=machine),
            rec("credential.used", 5, nhi=role, credential="ASIA2", attrs=person),
        ]
    )
    st = engine.state.nhis[role]
    assert st.kind == "machine" and st.human_use is not None and st.human_use[0] == "console session"
    factor = next(f for f in out.trust[-1].factors if f.name == "human_use")
    assert factor.delta == -10 and factor.evidence == (st.human_use[1],)
    assert not out.findings
