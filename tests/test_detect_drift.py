"""context-drift: credential level (high) and identity level against a baseline (medium)."""

from __future__ import annotations

from typing import Any

from contract.settings import Settings
from tests.scenario import final, play, rec, registered, summary

NHI = "k8s:prod-eu-1/payments/ledger"
DET = "context-drift"
HOME = {"cluster": "prod-eu-1", "namespace": "payments", "env": "prod", "region": "eu-west-1"}


def issued(minute: float, cred: str, node: str, pod: str, **kw: Any) -> dict[str, Any]:
    ctx = {**HOME, "node": node, "pod_uid": pod, "ip": "10.0.0." + node[-1]}
    return rec("credential.issued", minute, nhi=NHI, credential=cred, attested=True, context=ctx, **kw)


def used(minute: float, cred: str, **ctx: str) -> dict[str, Any]:
    return rec("credential.used", minute, nhi=NHI, credential=cred, context={**HOME, **ctx})


def test_credential_used_from_another_node_and_ip_is_high() -> None:
    out, _ = play(
        [
            registered(NHI),
            issued(1, "t1", "n1", "u1"),
            used(2, "t1", node="n9", pod_uid="u1", ip="203.0.113.9"),
        ]
    )
    got = {(f.reason, f.severity) for f in final(out).values()}
    assert got == {("credential-node-changed", "high"), ("credential-ip-changed", "high")}


def test_new_credential_on_a_new_node_is_normal() -> None:
    # A pod rescheduled to another node gets a new token there: nothing to report.
    records = [
        registered(NHI),
        issued(1, "t1", "n1", "u1"),
        used(2, "t1", node="n1", pod_uid="u1", ip="10.0.0.1"),
        issued(3, "t2", "n2", "u2"),
        used(4, "t2", node="n2", pod_uid="u2", ip="10.0.0.2"),
    ]
    out, _ = play(records)
    assert not out.findings


def test_revocation_resolves_credential_drift() -> None:
    records = [
        registered(NHI),
        issued(1, "t1", "n1", "u1"),
        used(2, "t1", pod_uid="u7"),
        rec("credential.revoked", 3, credential="t1"),
    ]
    out, _ = play(records)
    assert summary(out) == {(DET, NHI, "credential-pod_uid-changed", "resolved")}


def test_attested_baseline_flags_new_namespace_at_once() -> None:
    records = [registered(NHI), issued(1, "t1", "n1", "u1"), used(2, "t1", namespace="kube-system")]
    out, _ = play(records)
    (f,) = final(out).values()
    assert (f.reason, f.severity, f.details["value"]) == ("new-namespace", "medium", "kube-system")
    assert f.details["baseline"] == ["payments"]


def test_task_start_extends_the_baseline() -> None:
    records = [
        registered(NHI),
        issued(1, "t1", "n1", "u1"),
        rec("task.started", 2, nhi=NHI, task="pod:x", context={**HOME, "namespace": "batch"}),
        used(3, "t1", namespace="batch"),
    ]
    out, _ = play(records)
    assert not out.findings


def test_unattested_baseline_is_learned_then_enforced() -> None:
    nhi = "aws:1:role/etl"
    learn = [
        rec(
            "credential.used",
            i,
            nhi=nhi,
            credential="k",
            context={"region": "eu-west-1" if i % 2 else "eu-central-1"},
        )
        for i in range(5)
    ]
    after = rec("credential.used", 10, nhi=nhi, credential="k", context={"region": "ap-southeast-2"})
    within = rec("credential.used", 11, nhi=nhi, credential="k", context={"region": "eu-west-1"})
    records = [registered(nhi), *learn, after, within]
    out, _ = play(records, Settings(learn_events=6))  # registration + 5 uses
    assert {(f.reason, f.details["value"]) for f in final(out).values()} == {("new-region", "ap-southeast-2")}
    # during learning, variety is not drift
    out2, _ = play([registered(nhi), *learn, within], Settings(learn_events=6))
    assert not out2.findings


def test_same_new_value_updates_one_finding() -> None:
    records = [
        registered(NHI),
        issued(1, "t1", "n1", "u1"),
        *(used(2 + i, "t1", cluster="prod-us-1") for i in range(3)),
    ]
    out, _ = play(records)
    assert len(final(out)) == 1
    assert [f.activity for f in out.findings] == ["create", "update", "update"]
