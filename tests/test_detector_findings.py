"""token-outlived-task, context-drift and the workload signals: each finding read in full.

The detectors are pure functions of (event, state, settings); these tests build the state by hand
and compare everything an analyst gets - finding id, summary, evidence, details - and the state a
rule leaves behind for the next event (the drift baseline, the seats, the known addresses).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from contract.changes import finding_id
from contract.events import Event, event_from_record
from contract.records import Finding
from contract.settings import Settings
from streams.detectors import drift, token_outlived, workload
from streams.state import SEAT_MEMORY, CredentialState, NhiState, Seat, TaskState, WorkloadUse
from tests.scenario import T0, rec

S = Settings()
NHI = "k8s:prod/payments/ledger"


def ev(kind: str, minute: float, **fields: Any) -> Event:
    return event_from_record(rec(kind, minute, nhi=NHI, **fields))


def at(minute: float) -> Any:
    return T0 + timedelta(minutes=minute)


# --- token-outlived-task ------------------------------------------------------------------------


def ended_task_state(*creds: CredentialState) -> tuple[NhiState, Event]:
    end = ev("task.ended", 10, task="job-1")
    st = NhiState(NHI, credentials={c.credential: c for c in creds})
    st.tasks["job-1"] = TaskState("job-1", at(0), end.time, end.id)
    return st, end


def test_at_task_end_only_credentials_that_stay_usable_are_findings() -> None:
    # Decoys first: each must be skipped without ending the scan (a `break` would miss the rest).
    decoys = [
        CredentialState("other-task", task="job-2"),
        CredentialState("revoked", task="job-1", revoked_at=at(9)),
        CredentialState("pod-bound", task="job-1", invalidated_with_task=True),
        CredentialState("within-overhang", task="job-1", expires_at=at(10 + 15)),
    ]
    never = CredentialState("never", task="job-1", issued_event="iss-never", method="static")
    longer = CredentialState("long", task="job-1", expires_at=at(10 + 90), issued_event="iss-long")
    st, end = ended_task_state(*decoys, never, longer)
    found = token_outlived.detect(end, st, S)
    assert [f.credential for f in found] == ["never", "long"]
    f_never, f_long = found
    assert f_never == Finding(
        finding_id=finding_id("token-outlived-task", NHI, "never"),
        detector="token-outlived-task",
        severity="medium",
        status="open",
        nhi=NHI,
        credential="never",
        task="job-1",
        reason="outlived-task",
        summary=f"credential never of {NHI} is still valid after task job-1 ended: never expires",
        first_seen=end.time,
        last_seen=end.time,
        evidence=["iss-never", end.id],
        details={
            "task_ended_at": end.time.isoformat(),
            "expires_at": None,
            "outlives_s": None,
            "method": "static",
        },
    )
    assert (
        f_long.summary
        == f"credential long of {NHI} is still valid after task job-1 ended: outlives it by 90m"
    )
    assert f_long.details == {
        "task_ended_at": end.time.isoformat(),
        "expires_at": at(100).isoformat(),
        "outlives_s": 5400.0,
        "method": None,
    }


def test_a_use_after_the_task_ended_names_the_call_and_how_late() -> None:
    cs = CredentialState("c1", task="job-1")
    st, end = ended_task_state(cs)
    use = ev("credential.used", 13, credential="c1", action="get", resource="secrets/db")
    [f] = token_outlived.detect(use, st, S)
    assert f.finding_id == finding_id("token-outlived-task", NHI, "c1:used-after-end")
    assert (f.severity, f.reason, f.credential, f.task) == ("high", "used-after-task-end", "c1", "job-1")
    assert f.summary == f"credential c1 of {NHI} used 3m after task job-1 ended (get secrets/db)"
    assert f.details == {"task_ended_at": end.time.isoformat(), "late_s": 180.0, "action": "get"}
    assert f.evidence == [end.id, use.id]
    bare = ev("credential.used", 14, credential="c1")
    f2 = token_outlived.detect(bare, st, S)[0]
    assert f2.summary == f"credential c1 of {NHI} used 4m after task job-1 ended"
    assert f2.details["action"] is None
    # credentials nobody knows, or bound to no task, are not judged
    assert token_outlived.detect(ev("credential.used", 14, credential="ghost"), st, S) == []
    st.credentials["free"] = CredentialState("free")
    assert token_outlived.detect(ev("credential.used", 14, credential="free"), st, S) == []


def test_only_a_revocation_resolves_an_outlived_credential() -> None:
    cs = CredentialState("c1", task="job-1")
    st, end = ended_task_state(cs)
    [f] = token_outlived.detect(end, st, S)
    st.findings[f.finding_id] = f
    assert token_outlived.detect(ev("credential.issued", 11, credential="c1"), st, S) == []
    [done] = token_outlived.detect(ev("credential.revoked", 12, credential="c1"), st, S)
    assert (done.finding_id, done.status, done.details["resolution"]) == (
        f.finding_id,
        "resolved",
        "credential revoked",
    )


# --- context-drift: the credential level --------------------------------------------------------


def test_a_credential_used_from_another_node_than_it_was_issued_to() -> None:
    cs = CredentialState(
        "c1", task="job-1", issued_event="iss-1", issue_context={"node": "n1", "pod_uid": "p1"}
    )
    st = NhiState(NHI, credentials={"c1": cs})
    use = ev("credential.used", 5, credential="c1", context={"node": "n9", "pod_uid": "p1"})
    [f] = drift.detect(use, st, S)
    assert f == Finding(
        finding_id=finding_id("context-drift", NHI, "c1:node"),
        detector="context-drift",
        severity="high",
        status="open",
        nhi=NHI,
        credential="c1",
        task="job-1",
        reason="credential-node-changed",
        summary=f"credential c1 of {NHI} issued to node n1 was used from node n9",
        first_seen=use.time,
        last_seen=use.time,
        evidence=["iss-1", use.id],
        details={"key": "c1:node", "level": "credential", "attribute": "node", "issued": "n1", "used": "n9"},
    )
    # a credential this NHI never saw issued has no issue context to compare with
    assert drift.detect(ev("credential.used", 6, credential="ghost", context={"node": "n9"}), st, S) == []


def test_a_revocation_resolves_the_drift_findings_of_that_credential_only() -> None:
    st = NhiState(NHI)

    def f(detector: str, credential: str, key: str | None) -> Finding:
        details = {} if key is None else {"key": key}
        fid = finding_id(detector, NHI, f"{credential}/{key}")
        finding = Finding(
            fid, detector, "high", "open", NHI, credential, None, "r", "s", T0, T0, ["e"], details=details
        )
        st.findings[fid] = finding
        return finding

    target = f("context-drift", "c1", "c1:node")
    decoys = [
        f("token-outlived-task", "c1", "c1:a"),  # another detector's, same credential and key
        f("token-outlived-task", "c2", "c1:b"),  # another detector's, a key that looks like it
        f("context-drift", "c2", "c2:node"),  # this detector's, another credential
        f("context-drift", "c1", None),  # identity level: no credential key
    ]
    assert drift.detect(ev("credential.issued", 8, credential="c1"), st, S) == []
    done = drift.detect(ev("credential.revoked", 9, credential="c1"), st, S)
    assert [(d.finding_id, d.status, d.details["resolution"]) for d in done] == [
        (target.finding_id, "resolved", "credential revoked")
    ]
    assert all(st.findings[d.finding_id].status == "open" for d in decoys)


# --- context-drift: the identity level ----------------------------------------------------------


def seeded(**baseline: set[str]) -> NhiState:
    return NhiState(NHI, baseline=dict(baseline), baseline_seeded=True, event_count=100)


def test_a_region_outside_the_baseline_is_a_medium_finding_with_its_baseline() -> None:
    st = seeded(region={"eu-west-1", "eu-central-1"})
    use = ev("credential.used", 5, credential="c1", task="job-1", context={"region": "ap-east-1"})
    [f] = drift.detect(use, st, S)
    assert f == Finding(
        finding_id=finding_id("context-drift", NHI, "region=ap-east-1"),
        detector="context-drift",
        severity="medium",
        status="open",
        nhi=NHI,
        credential="c1",
        task="job-1",
        reason="new-region",
        summary=f"{NHI} active in region 'ap-east-1', outside its baseline ['eu-central-1', 'eu-west-1']",
        first_seen=use.time,
        last_seen=use.time,
        evidence=[use.id],
        details={
            "key": "region=ap-east-1",
            "level": "identity",
            "attribute": "region",
            "value": "ap-east-1",
            "baseline": ["eu-central-1", "eu-west-1"],
        },
    )
    assert st.drifted == {"region=ap-east-1": use.id}
    assert st.last_context is None  # a drifting context is judged again next time


def test_an_attribute_never_seen_before_has_an_empty_baseline() -> None:
    st = seeded(region={"eu-west-1"})
    use = ev("credential.used", 5, context={"region": "eu-west-1", "env": "staging"})
    [f] = drift.detect(use, st, S)
    assert f.summary == f"{NHI} active in env 'staging', outside its baseline (none)"
    assert f.details["baseline"] == []


def test_a_context_inside_the_baseline_is_remembered_to_skip_it_next_time() -> None:
    st = seeded(region={"eu-west-1"}, cluster={"prod"})
    use = ev("credential.used", 5, context={"region": "eu-west-1", "cluster": "prod"})
    assert drift.detect(use, st, S) == []
    assert st.last_context == ("prod", None, None, "eu-west-1", None)


def test_only_task_starts_and_attested_issues_extend_a_seeded_baseline() -> None:
    st = seeded(region={"eu-west-1"})
    # a use that says it was attested is still a use: judged, not learned from
    attested_use = ev("credential.used", 5, credential="c1", attested=True, context={"region": "us-east-1"})
    assert [f.reason for f in drift.detect(attested_use, st, S)] == ["new-region"]
    assert st.baseline["region"] == {"eu-west-1"}
    issue = ev("credential.issued", 6, credential="c2", attested=True, context={"region": "sa-east-1"})
    assert drift.detect(issue, st, S) == []
    assert st.baseline["region"] == {"eu-west-1", "sa-east-1"}


# --- context-drift: workload credentials --------------------------------------------------------

# Public addresses (the documentation ranges count as private to Python's ipaddress).
ADDR, OTHER_ADDR = "81.2.69.142", "31.13.64.35"
LINUX = "aws-cli/2.15 Python/3.11 Linux/6.1 botocore/1.34"


def workload_state(**cred: Any) -> tuple[NhiState, CredentialState]:
    cs = CredentialState("ASIA1", task="i-0abc", issued_event="iss-1", workload=True, **cred)
    return NhiState(NHI, credentials={"ASIA1": cs}), cs


def wl_use(minute: float, ip: str | None = ADDR, ua: str | None = LINUX, **ctx: Any) -> Event:
    context = {"user_agent": ua, **ctx}
    if ip is not None:
        context["ip"] = ip
    return ev(
        "credential.used", minute, credential="ASIA1", context=context, attrs={"session_kind": "workload"}
    )


def test_a_workload_credential_used_outside_every_known_network() -> None:
    s = replace(S, own_networks="31.13.64.0/24")
    st, cs = workload_state()
    use = wl_use(1)
    [f] = workload.workload_use(use, st, cs, s)
    assert f.finding_id == finding_id("context-drift", NHI, "ASIA1:credential-outside-networks")
    assert (f.severity, f.reason, f.credential, f.task) == (
        "high",
        "credential-outside-networks",
        "ASIA1",
        "i-0abc",
    )
    assert f.summary == (
        f"workload credential ASIA1 of {NHI} was used from {ADDR}, outside every provider's ranges and your networks"
    )
    assert f.details == {
        "key": "ASIA1:credential-outside-networks",
        "level": "credential",
        "signal": "credential-outside-networks",
        "address": ADDR,
        "ranges": ["1 own network(s)"],
    }
    assert f.evidence == ["iss-1", use.id]
    # the use is remembered: its address, and the use itself for seat checks
    assert cs.addresses == [ADDR]
    assert st.workload_uses[ADDR] == WorkloadUse(use.time, "ASIA1", LINUX, use.id, "i-0abc")
    assert workload.workload_use(wl_use(2, ip=OTHER_ADDR), st, cs, s) == []  # inside your network


def test_a_new_client_platform_for_one_credential() -> None:
    st, cs = workload_state()
    assert workload.workload_use(wl_use(1), st, cs, S) == []
    assert cs.platform == "linux"
    mac = "aws-cli/2.15 Python/3.11 Darwin/23.1 botocore/1.34"
    [f] = workload.workload_use(wl_use(2, ua=mac), st, cs, S)
    assert f.summary == f"workload credential ASIA1 of {NHI} was used from linux and now from macos"
    assert f.details["platform"] == "macos" and f.details["known_platform"] == "linux"


def test_an_instance_credential_used_off_its_known_address() -> None:
    st, cs = workload_state(addresses=["10.0.0.5", ADDR])
    use = wl_use(3, ip=OTHER_ADDR, instance="i-0abc")
    [f] = workload.workload_use(use, st, cs, S)
    assert (f.severity, f.reason) == ("medium", "credential-off-known-address")
    assert f.summary == (
        f"workload credential ASIA1 of {NHI} of instance i-0abc was used from {OTHER_ADDR}, not from its known address {ADDR}"
    )
    assert f.details == {
        "key": "ASIA1:credential-off-known-address",
        "level": "credential",
        "signal": "credential-off-known-address",
        "address": OTHER_ADDR,
        "known_addresses": [ADDR],
        "instance": "i-0abc",
    }
    st2, cs2 = workload_state(addresses=[ADDR, "81.2.69.143"])
    [f2] = workload.workload_use(wl_use(3, ip=OTHER_ADDR, instance="i-0abc"), st2, cs2, S)
    assert f2.summary.endswith(f"not from its known address {ADDR}, 81.2.69.143")
    # from a private address (inside the VPC) nothing is judged
    st3, cs3 = workload_state(addresses=[ADDR])
    assert workload.workload_use(wl_use(3, ip="10.1.2.3", instance="i-0abc"), st3, cs3, S) == []


def test_service_calls_and_agent_channels_are_not_judged() -> None:
    service = ev("credential.used", 1, credential="ASIA1", attrs={"session_kind": "service"})
    assert not workload.workload_judged(service)
    agent = ev("credential.used", 1, credential="ASIA1", action="ssmmessages:OpenDataChannel")
    assert not workload.workload_judged(agent)
    assert workload.workload_judged(wl_use(1))
    assert workload.workload_judged(
        ev("credential.used", 1, credential="ASIA1", attrs={"session_kind": "person"})
    )


def seat_event(
    minute: float, ua: str | None = "Mozilla/5.0 (Macintosh)", nhi: str = "aws:1:user/alice"
) -> Event:
    return event_from_record(
        rec("credential.used", minute, nhi=nhi, credential="AKIA9", context={"ip": ADDR, "user_agent": ua})
    )


def test_a_workload_credential_in_another_principals_seat_either_order() -> None:
    # the person first, then the workload credential from the same address
    st, cs = workload_state()
    seat = seat_event(0)
    assert workload.seat_observed(seat, st, S) == []
    assert st.seats == {ADDR: [Seat("aws:1:user/alice", seat.time, "Mozilla/5.0 (Macintosh)", seat.id)]}
    use = wl_use(30)
    [f] = workload.workload_use(use, st, cs, S)
    assert f.summary == (
        f"workload credential ASIA1 of {NHI} was used from {ADDR}, where aws:1:user/alice acted 30 minute(s) apart "
        "(with another client)"
    )
    assert f.details == {
        "key": "ASIA1:credential-in-others-seat",
        "level": "credential",
        "signal": "credential-in-others-seat",
        "address": ADDR,
        "other_principal": "aws:1:user/alice",
        "same_client": False,
        "user_agent": LINUX,
        "other_user_agent": "Mozilla/5.0 (Macintosh)",
    }
    assert f.evidence == ["iss-1", use.id, seat.id]
    # the workload credential first, then the person with the same client
    st2, cs2 = workload_state()
    use2 = wl_use(0)
    workload.workload_use(use2, st2, cs2, S)
    same = seat_event(45, ua=LINUX)
    [g] = workload.seat_observed(same, st2, S)
    assert g.summary == (
        f"workload credential ASIA1 of {NHI} was used from {ADDR}, where aws:1:user/alice acted 45 minute(s) apart "
        "(with the same client)"
    )
    assert g.details["same_client"] is True
    assert g.evidence == ["iss-1", use2.id, same.id]


def test_seats_outside_the_window_unknown_clients_and_its_own_uses_are_no_finding() -> None:
    st, cs = workload_state()
    workload.workload_use(wl_use(0), st, cs, S)
    assert workload.seat_observed(seat_event(61), st, S) == []  # 61 minutes: outside the hour
    no_agent = seat_event(30, ua=None)
    [f] = workload.seat_observed(no_agent, st, S)
    assert f.details["same_client"] is False  # an unknown client is never "the same"
    st2, cs2 = workload_state()
    workload.workload_use(wl_use(0, ua=None), st2, cs2, S)
    assert workload.seat_observed(seat_event(5, ua=None, nhi=NHI), st2, S) == []  # itself
    # a use without an address, or by no identity, is no seat
    nowhere = event_from_record(rec("credential.used", 1, nhi="aws:1:user/bob", credential="k"))
    assert workload.seat_observed(nowhere, st2, S) == []


def test_remembered_addresses_are_bounded() -> None:
    st, cs = workload_state()
    for i in range(SEAT_MEMORY + 3):
        workload.workload_use(wl_use(i, ip=f"81.2.70.{i + 1}"), st, cs, S)
    assert len(st.workload_uses) == SEAT_MEMORY
    assert next(iter(st.workload_uses)) == "81.2.70.4"  # the oldest went first
