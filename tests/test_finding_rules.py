"""The finding lifecycle and the unowned-actor rules as a SOC reads them: whole findings compared.

``streams.detectors`` are pure functions of (event, state, settings), so these tests build the
state by hand and check every field a finding carries - summary, evidence, details - not only
that one was raised: the summary is what an analyst reads first, the evidence what they open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contract.changes import finding_id
from contract.events import Event, event_from_record
from contract.records import Finding
from contract.settings import Settings
from streams.detectors import observe, unowned
from streams.detectors.common import cap_evidence, raise_finding, resolve_finding
from streams.state import CredentialState, NhiState, WorkloadUse
from tests.scenario import T0, rec

S = Settings()
NHI = "aws:111122223333:role/ledger"
OTHER = "aws:111122223333:role/billing"
SCOPE = "aws:111122223333"


def ev(kind: str, minute: float, **fields: Any) -> Event:
    return event_from_record(rec(kind, minute, **fields))


def used(minute: float = 1, **kw: Any) -> Event:
    return ev("credential.used", minute, nhi=NHI, credential=kw.pop("credential", "c1"), **kw)


def inventory_registration(minute: float = 0, nhi: str = OTHER) -> Event:
    return ev("identity.registered", minute, nhi=nhi, owner="team-b")


def with_credential(**kw: Any) -> NhiState:
    st = NhiState(NHI, **kw)
    st.credentials["c1"] = CredentialState("c1")
    return st


# --- evidence: the cause and the newest ---------------------------------------------------------


def test_evidence_keeps_the_cause_and_the_newest_within_the_cap() -> None:
    assert cap_evidence(["a", "b"], "c", 3) == ["a", "b", "c"]  # exactly at the cap: all kept
    assert cap_evidence(["a", "b", "c"], "d", 3) == ["a", "c", "d"]
    assert cap_evidence(["a", "b", "c", "d", "e"], "f", 4) == ["a", "d", "e", "f"]
    assert cap_evidence(["a", "b"], "a", 3) == ["a", "b"]  # already there: unchanged


# --- the lifecycle: open, update, resolve, reopen -----------------------------------------------


def _raise(st: NhiState, event: Event, **kw: Any) -> Finding | None:
    args: dict[str, Any] = {
        "detector": "unowned-actor",
        "key": "no-owner",
        "severity": "medium",
        "reason": "no-owner",
        "summary": f"summary at {event.time:%H:%M}",
        "cap": 3,
    }
    return raise_finding(st, event, **{**args, **kw})


def test_a_new_finding_carries_every_field() -> None:
    st = NhiState(NHI)
    e = used(1, task="t1")
    f = _raise(st, e, credential="c1", task="t1", details={"k": 1}, extra_evidence=("cause",))
    assert f == Finding(
        finding_id=finding_id("unowned-actor", NHI, "no-owner"),
        detector="unowned-actor",
        severity="medium",
        status="open",
        nhi=NHI,
        credential="c1",
        task="t1",
        reason="no-owner",
        summary="summary at 08:01",
        first_seen=e.time,
        last_seen=e.time,
        evidence=["cause", e.id],
        activity="create",
        details={"k": 1},
    )


def test_an_update_widens_the_window_keeps_the_higher_severity_and_merges_details() -> None:
    st = NhiState(NHI)
    first = _raise(st, used(5), severity="high", details={"a": 1, "b": 1})
    assert first is not None
    st.findings[first.finding_id] = first
    earlier = used(2, credential="c2")  # arrives late, happened earlier
    upd = _raise(st, earlier, severity="medium", details={"b": 2})
    assert upd is not None
    assert (upd.status, upd.activity, upd.severity, upd.summary) == (
        "open",
        "update",
        "high",
        "summary at 08:02",
    )
    assert (upd.first_seen, upd.last_seen) == (earlier.time, first.last_seen)
    assert upd.evidence == [*first.evidence, earlier.id]
    assert upd.details == {"a": 1, "b": 2}
    assert upd.resolved_at is None
    # a higher severity raises an open finding's
    low = _raise(NhiState(NHI), used(1), severity="low")
    assert low is not None
    st.findings[low.finding_id] = low
    later = used(9)
    raised = _raise(st, later, severity="high")
    assert raised is not None and (raised.severity, raised.last_seen) == ("high", later.time)
    # the same event again changes nothing
    assert _raise(st, used(1)) is None


def test_a_resolved_finding_reopens_on_its_cause_again_even_from_known_evidence() -> None:
    st = NhiState(NHI)
    e = used(1)
    opened = _raise(st, e)
    assert opened is not None
    st.findings[opened.finding_id] = opened
    closing = used(3)
    closed = resolve_finding(st, opened.finding_id, closing, "owner registered", 3)
    assert closed is not None
    assert (closed.status, closed.activity, closed.resolved_at, closed.last_seen) == (
        "resolved",
        "close",
        closing.time,
        closing.time,
    )
    assert closed.evidence == [e.id, closing.id]
    assert closed.details == {"resolution": "owner registered"}
    st.findings[closed.finding_id] = closed
    assert resolve_finding(st, closed.finding_id, used(4), "again", 3) is None  # not open
    reopened = _raise(st, e)
    assert reopened is not None
    assert (reopened.status, reopened.activity, reopened.resolved_at) == ("open", "update", None)
    assert reopened.details == {"resolution": "owner registered"}  # the history stays readable


def test_resolving_keeps_the_latest_time_when_the_closing_event_is_older() -> None:
    st = NhiState(NHI)
    opened = _raise(st, used(10))
    assert opened is not None
    st.findings[opened.finding_id] = opened
    closed = resolve_finding(st, opened.finding_id, used(4), "late close", 3)
    assert closed is not None and closed.last_seen == opened.last_seen


# --- unowned-actor: one sentence per reason -----------------------------------------------------


def test_a_use_by_a_registered_identity_without_owner() -> None:
    st = with_credential(registered=True, owner_event="reg-1")
    e = used(1, task="job-7")
    [f] = unowned.detect(e, st, S)
    assert (f.reason, f.severity, f.credential, f.task) == ("no-owner", "medium", "c1", "job-7")
    assert f.summary == f"{NHI} used credential c1 while it has no registered owner"
    assert f.evidence == ["reg-1", e.id]
    assert f.details == {"owner": None, "owner_source": None, "scope": SCOPE}


def test_an_issue_without_a_credential_id_and_a_creator_without_owner_tag() -> None:
    st = with_credential(registered=True, created_by="alice")
    e = ev("credential.issued", 1, nhi=NHI)
    [f] = unowned.detect(e, st, S)
    assert (
        f.summary
        == f"{NHI} issued credential (unknown) while it has no owner (alice created it with no owner tag)"
    )
    assert f.evidence == [e.id]


def test_deleted_and_departed_sentences_and_details() -> None:
    [f] = unowned.detect(used(), with_credential(registered=True, owner="bob", deleted=True), S)
    assert (f.reason, f.severity) == ("identity-deleted", "high")
    assert f.summary == f"{NHI} used credential c1 while the identity is deleted"
    st = with_credential(registered=True, owner="bob", owner_departed=True, owner_source="inventory")
    [f] = unowned.detect(used(), st, S)
    assert (f.reason, f.severity) == ("owner-departed", "high")
    assert f.summary == f"{NHI} used credential c1 while its owner bob has departed"
    assert f.details == {"owner": "bob", "owner_source": "inventory", "scope": SCOPE}


def test_never_registered_with_and_without_an_inventory_for_its_scope() -> None:
    assert unowned.detect(used(), with_credential(), S) == []  # counted and scored, not an alert
    st = with_credential(scope_inventoried=True, scope_event="inv-1", owner_event="x")
    e = used(2)
    [f] = unowned.detect(e, st, S)
    assert (f.reason, f.severity) == ("never-registered", "medium")
    assert (
        f.summary
        == f"{NHI} used credential c1 while it was never registered though an inventory covers {SCOPE}"
    )
    assert f.evidence == ["inv-1", e.id]  # the inventory's registration is the cause, not an owner


def test_an_inventory_covering_the_scope_makes_an_active_identity_a_shadow() -> None:
    st = with_credential()
    version = st.version
    reg = inventory_registration()
    [f] = unowned.scope_covered(reg, st, S)
    assert (st.scope_inventoried, st.scope_event, st.version) == (True, reg.id, version + 1)
    assert f.summary == f"{NHI} was active while it was never registered though an inventory covers {SCOPE}"
    # the registration is another identity's: it names none of this one's credentials or tasks
    assert (f.credential, f.task, f.evidence) == (None, None, [reg.id])
    # only the first inventory registration counts
    assert unowned.scope_covered(inventory_registration(1), st, S) == []
    assert st.scope_event == reg.id


def test_only_inventory_registrations_cover_a_scope() -> None:
    st = with_credential()
    log_update = ev("identity.updated", 0, nhi=OTHER, owner="x", attrs={"owner_source": "tag"})
    assert unowned.scope_covered(log_update, st, S) == []
    assert (st.scope_inventoried, st.version) == (False, 0)
    assert unowned.scope_covered(used(), st, S) == []
    assert st.scope_inventoried is False


def test_an_idle_identity_people_and_managed_identities_become_no_shadow_finding() -> None:
    for st in (NhiState(NHI), with_credential(kind="human"), with_credential(managed_by="aws")):
        assert unowned.scope_covered(inventory_registration(), st, S) == []
        assert st.scope_inventoried  # still known to the trust score and the queries


def test_findings_resolve_only_when_an_active_owner_is_registered() -> None:
    st = with_credential(registered=True)
    [f] = unowned.detect(used(), st, S)
    st.findings[f.finding_id] = f
    ownerless = ev("identity.registered", 2, nhi=NHI)
    assert unowned.detect(ownerless, st, S) == []
    st.owner = "bob"
    reg = ev("identity.registered", 3, nhi=NHI, owner="bob")
    [closed] = unowned.detect(reg, st, S)
    assert (closed.finding_id, closed.status) == (f.finding_id, "resolved")
    assert closed.details["resolution"] == "active owner bob registered"
    assert closed.last_seen == T0 + timedelta(minutes=3)


# --- observations of other identities -----------------------------------------------------------


def test_people_and_managed_identities_learn_the_scope_but_judge_no_seat() -> None:
    address = "198.51.100.7"
    for kw in ({"kind": "human"}, {"managed_by": "aws"}):
        st = with_credential(**kw)
        assert observe(inventory_registration(), st, S) == []
        assert st.scope_inventoried
        st.workload_uses[address] = _workload_use(address)
        seat = ev(
            "credential.used",
            1,
            nhi=OTHER,
            credential="k",
            context={"ip": address},
            attrs={"session_kind": "person"},
        )
        assert observe(seat, st, S) == []
        assert st.seats == {}


def _workload_use(address: str) -> WorkloadUse:
    return WorkloadUse(T0, "c1", "aws-sdk-go/1.0 (linux)", "use-1", None)
