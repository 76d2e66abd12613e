"""A small hand-made evidence store, written through Store.write, that the query tests read.

Identities (T0 = 2026-05-01T12:00Z):
  A  k8s ledger      owner alice active   trust 40   creds cA1 (expires, attested), cA2 (never, revoked)
  B  aws ci-deployer owner bob departed   trust 55   cB1 (expires)
  C  spiffe etl      no owner             trust 70   cC1 (never)
  D  k8s frontend    owner carol active   trust 100  cD1, cD2 (expire, attested)
  E  k8s old batch   deleted              trust 100  cE1 (never)
  F  k8s reporting   owner erin active    trust 90   no credentials
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contract.events import Context, Event, EventType
from contract.records import CredentialRow, Factor, Finding, IdentityRow, Snapshots, TaskRow, TrustChange
from contract.rejects import Reject
from store import Batch, Store

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
A = "k8s:prod/payments/ledger"
B = "aws:123456789012:role/ci-deployer"
C = "spiffe://example.org/ns/analytics/sa/etl"
D = "k8s:prod/web/frontend"
E = "k8s:old/batch"
F = "k8s:prod/reporting/exporter"


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(id: str, type: EventType, minutes: float, **fields: Any) -> Event:
    return Event(id=id, type=type, time=m(minutes), **fields)


EVENTS = [
    ev("eA_reg", EventType.IDENTITY_REGISTERED, 0, nhi=A, owner="alice", purpose="ledger writes"),
    ev("eA_task1", EventType.TASK_STARTED, 0, nhi=A, task="tA1", context=Context(node="n1", namespace="payments")),
    ev("eA_iss1", EventType.CREDENTIAL_ISSUED, 1, nhi=A, credential="cA1", task="tA1", expires_at=m(60), attested=True,
       method="k8s-bound-token", context=Context(node="n1")),
    ev("eA_task2", EventType.TASK_STARTED, 5, nhi=A, task="tA2"),
    ev("eA_iss2", EventType.CREDENTIAL_ISSUED, 6, nhi=A, credential="cA2", task="tA2"),
    ev("eA_end1", EventType.TASK_ENDED, 10, task="tA1"),  # names no identity: found through task tA1
    ev("eA_use1", EventType.CREDENTIAL_USED, 15, nhi=A, credential="cA1", action="get", resource="s3://ledger",
       outcome="success", context=Context(node="n2"), attrs={"bytes": 512}),
    ev("eA_use2", EventType.CREDENTIAL_USED, 20, nhi=A, credential="cA1", action="put", resource="s3://ledger",
       outcome="success"),
    ev("eA_end2", EventType.TASK_ENDED, 30, task="tA2"),
    ev("eA_rev2", EventType.CREDENTIAL_REVOKED, 40, credential="cA2"),  # found through credential cA2
    ev("eB_reg", EventType.IDENTITY_REGISTERED, 0, nhi=B, owner="bob"),
    ev("eB_dep", EventType.OWNER_DEPARTED, 60, owner="bob"),
    ev("eC_use", EventType.CREDENTIAL_USED, 2, nhi=C, credential="cC1", action="query", outcome="failure"),
    ev("eD_reg", EventType.IDENTITY_REGISTERED, 0, nhi=D, owner="carol"),
    ev("eX_end", EventType.TASK_ENDED, 12, task="tOther"),  # concerns nobody above
]  # fmt: skip


def finding(
    fid: str, detector: str, nhi: str, reason: str, severity: str, first: float, last: float, **kw: Any
) -> Finding:
    return Finding(
        finding_id=fid, detector=detector, severity=severity, status=kw.pop("status", "open"), nhi=nhi,  # type: ignore[arg-type]
        credential=kw.pop("credential", None), task=kw.pop("task", None), reason=reason,
        summary=kw.pop("summary", f"{detector} {reason} on {nhi}"), first_seen=m(first), last_seen=m(last),
        evidence=kw.pop("evidence", []), **kw,
    )  # fmt: skip


FIRST_FINDINGS = [
    finding("fA1", "token-outlived-task", A, "outlived-task", "medium", 10, 10, credential="cA1", task="tA1",
            evidence=["eA_iss1", "eA_end1"], details={"outlives_s": 3000.0}),
    finding("fA4", "context-drift", A, "credential-node-changed", "high", 15, 15, credential="cA1",
            evidence=["eA_use1"], details={"level": "credential", "attribute": "node", "issued": "n1", "used": "n2"}),
    finding("fA2", "token-outlived-task", A, "used-after-task-end", "high", 20, 20, credential="cA1", task="tA1",
            evidence=["eA_use2"], details={"late_s": 600.0}),
    finding("fA3", "token-outlived-task", A, "outlived-task", "medium", 30, 30, credential="cA2", task="tA2",
            evidence=["eA_end2"]),
    finding("fC1", "unowned-actor", C, "no-owner", "medium", 2, 2, credential="cC1", evidence=["eC_use"]),
    finding("fC2", "context-drift", C, "new-namespace", "medium", 2, 2, details={"level": "identity",
            "attribute": "namespace", "value": "ml", "baseline": ["analytics"]}),
    finding("fC3", "token-outlived-task", C, "outlived-task", "medium", 3, 3, credential="cC1", task="tC1"),
    finding("fD1", "unowned-actor", D, "no-owner", "medium", 0, 0),
]  # fmt: skip

# The second batch: changes to findings already stored (first_seen deliberately differs: it must not win).
LATER_FINDINGS = [
    finding("fA3", "token-outlived-task", A, "outlived-task", "medium", 35, 40, credential="cA2", task="tA2",
            evidence=["eA_end2", "eA_rev2"], status="resolved", activity="close", resolved_at=m(40)),
    finding("fD1", "unowned-actor", D, "no-owner", "medium", 0, 1, status="resolved", activity="close",
            resolved_at=m(1)),
    finding("fB1", "unowned-actor", B, "owner-departed", "high", 60, 60, evidence=["eB_dep"]),
]  # fmt: skip


def trust(
    nhi: str, minutes: float, score: int, previous: int | None, event_id: str, *factors: Factor
) -> TrustChange:
    return TrustChange(
        nhi=nhi, time=m(minutes), score=score, previous=previous, factors=factors, event_id=event_id
    )


TRUST = [
    trust(A, 0, 100, None, "eA_reg", Factor("registered", 0, "registered with an owner", ("eA_reg",))),
    trust(A, 10, 70, 100, "eA_end1", Factor("outlived-task", -30, "cA1 outlives tA1", ("eA_end1",))),
    trust(A, 20, 40, 70, "eA_use2", Factor("outlived-task", -30, "cA1 outlives tA1", ("eA_end1",)),
          Factor("used-after-task-end", -30, "cA1 used 10m after tA1 ended", ("eA_use2",))),
    trust(B, 0, 100, None, "eB_reg"),
    trust(B, 60, 55, 100, "eB_dep", Factor("owner-departed", -45, "bob left", ("eB_dep",))),
    trust(C, 2, 70, None, "eC_use", Factor("no-owner", -30, "nobody owns it", ("eC_use",))),
    trust(D, 0, 100, None, "eD_reg"),
]  # fmt: skip


def identity(
    nhi: str, owner: str | None, owner_status: str, status: str, trust: int, open_findings: int
) -> IdentityRow:
    return IdentityRow(nhi, owner, owner_status, status, None, T0, m(60), 3, trust, open_findings)


def credential(cred: str, nhi: str, expires: float | None, attested: bool, **kw: Any) -> CredentialRow:
    return CredentialRow(
        credential=cred, nhi=nhi, method=kw.get("method"), task=kw.get("task"), attested=attested,
        issued_at=kw.get("issued_at", T0), expires_at=None if expires is None else m(expires),
        revoked_at=kw.get("revoked_at"), first_used=kw.get("first_used"), last_used=kw.get("last_used"),
        use_count=kw.get("use_count", 0),
    )  # fmt: skip


SNAPSHOTS = Snapshots(
    identities=[
        identity(A, "alice", "active", "registered", 40, 3),
        identity(B, "bob", "departed", "registered", 55, 1),
        identity(C, None, "none", "unregistered", 70, 3),
        identity(D, "carol", "active", "registered", 100, 0),
        identity(E, "dave", "active", "deleted", 100, 0),
        identity(F, "erin", "active", "registered", 90, 0),
    ],
    credentials=[
        credential("cA1", A, 60, True, task="tA1", issued_at=m(1), first_used=m(15), last_used=m(20), use_count=2),
        credential("cA2", A, None, False, task="tA2", issued_at=m(6), revoked_at=m(40)),
        credential("cB1", B, 720, False),
        credential("cC1", C, None, False, task="tC1", first_used=m(2), last_used=m(2), use_count=1),
        credential("cD1", D, 15, True),
        credential("cD2", D, 15, True),
        credential("cE1", E, None, False),
    ],
    tasks=[
        TaskRow("tA1", A, m(0), m(10)),
        TaskRow("tA2", A, m(5), m(30)),
        TaskRow("tC1", C, m(0), m(3)),
    ],
)  # fmt: skip

REJECTS = [
    Reject('{"type": "credential.used", ', "invalid JSON", "native", "events.jsonl:7", m(0)),
    Reject("not json at all", "invalid JSON", "native", "events.jsonl:9", m(1)),
    Reject('{"verb": "get"}', "missing nhi", "k8s-audit", "audit.log:3", m(2)),
]


def build_fixture_db(path: Path) -> Path:
    """Write the fixture in three batches, the way a pipeline would."""
    with Store.open(path) as store:
        store.write(Batch(events=EVENTS[:8], findings=FIRST_FINDINGS, trust=TRUST[:4], rejects=REJECTS[:2]))
        store.write(Batch(events=EVENTS[8:], findings=LATER_FINDINGS, trust=TRUST[4:], rejects=REJECTS[2:]))
        store.write(Batch(snapshots=SNAPSHOTS, engine_state={"engine": b"snapshot-v1"}))
    return path
