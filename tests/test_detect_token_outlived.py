"""token-outlived-task, exactly as specified: (a) at task end, (b) use after end + grace."""

from __future__ import annotations

from typing import Any

import pytest

from contract.settings import Settings
from tests.scenario import at, final, play, rec, registered, summary

NHI = "k8s:prod/payments/ledger"
TASK = "pod:prod/payments/ledger-7f9"
DET = "token-outlived-task"


def issued(minute: float, cred: str = "jti-1", expires: float | None = 12 * 60, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"nhi": NHI, "credential": cred, "task": TASK, "method": "k8s-bound-token"}
    if expires is not None:
        fields["expires_at"] = at(expires)
    fields.update(kw)
    return rec("credential.issued", minute, **fields)


def ended(minute: float) -> dict[str, Any]:
    return rec("task.ended", minute, task=TASK)  # no nhi: resolved through the task index


def base(*more: dict[str, Any]) -> list[dict[str, Any]]:
    return [registered(NHI), rec("task.started", 1, nhi=NHI, task=TASK), *more]


def test_task_end_with_live_long_token_is_medium_finding_with_overhang() -> None:
    out, _ = play(base(issued(2, expires=12 * 60 + 30), ended(30)))
    (f,) = [f for f in final(out).values() if f.detector == DET]
    assert (f.severity, f.status, f.reason) == ("medium", "open", "outlived-task")
    assert f.credential == "jti-1" and f.task == TASK and f.nhi == NHI
    assert "outlives it by 12h" in f.summary
    assert f.details["outlives_s"] == pytest.approx((12 * 60 + 30 - 30) * 60)


def test_never_expiring_credential_bound_to_task() -> None:
    out, _ = play(base(issued(2, expires=None), ended(30)))
    (f,) = final(out).values()
    assert "never expires" in f.summary and f.details["expires_at"] is None


@pytest.mark.parametrize(
    ("records", "why"),
    [
        ([issued(2), rec("credential.revoked", 20, credential="jti-1"), ended(30)], "revoked before end"),
        ([issued(2), rec("credential.revoked", 30, credential="jti-1"), ended(30)], "revoked exactly at end"),
        ([issued(2, expires=30 + 15), ended(30)], "expires exactly at end + overhang"),
        ([issued(2, expires=40), ended(30)], "expires within the overhang"),
        ([issued(2, expires=25), ended(30)], "already expired"),
        ([issued(2), rec("credential.used", 30.5, nhi=NHI, credential="jti-1")], "task never ended"),
        ([issued(2, attrs={"invalidated_with_task": True}), ended(30)], "the issuer ends it with the task"),
    ],
)
def test_negatives_raise_nothing(records: list[dict[str, Any]], why: str) -> None:
    out, _ = play(base(*records))
    assert not [f for f in out.findings if f.detector == DET], why


def test_revocation_after_end_resolves_the_finding() -> None:
    out, _ = play(base(issued(2), ended(30), rec("credential.revoked", 45, credential="jti-1")))
    versions = [f for f in out.findings if f.detector == DET]
    assert [v.activity for v in versions] == ["create", "close"]
    assert versions[-1].status == "resolved" and versions[-1].resolved_at is not None
    assert versions[-1].finding_id == versions[0].finding_id


def test_use_after_end_plus_grace_is_high() -> None:
    out, _ = play(
        base(issued(2), ended(30), rec("credential.used", 32, nhi=NHI, credential="jti-1", action="get"))
    )
    got = {(f.reason, f.severity) for f in final(out).values()}
    assert got == {("outlived-task", "medium"), ("used-after-task-end", "high")}


def test_use_within_grace_is_not_a_finding() -> None:
    out, _ = play(
        base(issued(2, expires=40), ended(30), rec("credential.used", 30.9, nhi=NHI, credential="jti-1"))
    )
    assert not out.findings


def test_grace_is_configurable() -> None:
    records = base(
        issued(2, expires=40), ended(30), rec("credential.used", 30.9, nhi=NHI, credential="jti-1")
    )
    out, _ = play(records, Settings(grace_s=10))
    assert {f.reason for f in out.findings} == {"used-after-task-end"}


def test_repeated_uses_update_one_finding() -> None:
    uses = [rec("credential.used", 40 + i, nhi=NHI, credential="jti-1") for i in range(5)]
    out, _ = play(base(issued(2, expires=35), ended(30), *uses))
    versions = [f for f in out.findings if f.reason == "used-after-task-end"]
    assert [v.activity for v in versions] == ["create"] + ["update"] * 4
    assert len(final(out)) == 1 and len(versions[-1].evidence) == 6  # the task end + five uses


def test_binding_named_on_use_counts() -> None:
    # A credential issued without a task but used naming one is bound to that task.
    records = [
        registered(NHI),
        rec("credential.issued", 2, nhi=NHI, credential="k1"),
        rec("credential.used", 3, nhi=NHI, credential="k1", task=TASK),
        ended(30),
    ]
    out, _ = play(records)
    assert summary(out) == {(DET, NHI, "outlived-task", "open")}


def test_task_end_arriving_before_the_issuance_is_still_correlated() -> None:
    # Out of order by arrival but within the reorder window: same result as in order.
    in_order, _ = play(base(issued(2), ended(3)))
    records = base(issued(2), ended(3))
    swapped = [records[0], records[1], records[3], records[2]]
    out_of_order, _ = play(swapped)
    assert summary(in_order) == summary(out_of_order) == {(DET, NHI, "outlived-task", "open")}


def test_revocation_at_end_arriving_last_raises_nothing() -> None:
    late = rec("credential.revoked", 30, credential="jti-1")
    out, _ = play(
        [*base(issued(2), ended(30)), rec("credential.used", 29, nhi=NHI, credential="jti-1"), late]
    )
    assert not [f for f in out.findings if f.detector == DET]


def test_use_of_a_credential_invalidated_with_its_task_is_still_high() -> None:
    # The issuer should have refused it; a successful use after the end is worth an alert.
    out, _ = play(
        base(
            issued(2, attrs={"invalidated_with_task": True}),
            ended(30),
            rec("credential.used", 35, nhi=NHI, credential="jti-1"),
        )
    )
    assert {(f.reason, f.severity) for f in final(out).values()} == {("used-after-task-end", "high")}
