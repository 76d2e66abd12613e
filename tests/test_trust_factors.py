"""Each trust factor exactly as `nhi explain` shows it: name, delta, the sentence and its evidence.

The factors are a pure function of an NHI's state (``streams.trust``), so these tests build the
state by hand and compare whole ``Factor`` values: a changed word, a dropped evidence id or a cap
of 4 instead of 3 is a changed explanation, and an auditor reads the explanation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.records import Factor, Finding, Severity
from contract.settings import Settings
from streams.state import CredentialState, NhiState
from streams.trust import factors, owner_factor, score_of, update_trust

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
NHI = "aws:111122223333:role/ledger"
S = Settings()


def state(**kw: object) -> NhiState:
    return NhiState(NHI, **kw)  # type: ignore[arg-type]


def cred(
    name: str, *, hours: float | None = 1.0, attested: bool = True, issued_h: float = -0.5
) -> CredentialState:
    issued = NOW + timedelta(hours=issued_h)
    expires = None if hours is None else issued + timedelta(hours=hours)
    return CredentialState(
        name, issued_at=issued, issued_event=f"iss-{name}", expires_at=expires, attested=attested
    )


def live(*creds: CredentialState) -> dict[str, CredentialState]:
    return {c.credential: c for c in creds}


def by_name(st: NhiState) -> dict[str, Factor]:
    fs, _ = factors(st, S, NOW)
    return {f.name: f for f in fs}


# --- the owner factor: one sentence per case, strongest fact first ------------------------------


def test_a_person_is_not_judged_as_a_machine_and_the_evidence_is_named() -> None:
    st = state(kind="human", kind_evidence={"human": ("console sign-in with MFA", "ev-1")})
    assert owner_factor(st) == Factor(
        "owner", 0, "a person, not a machine identity (console sign-in with MFA)", ("ev-1",)
    )
    # a person known without recorded evidence: an empty parenthesis, no evidence id
    assert owner_factor(state(kind="human")) == Factor("owner", 0, "a person, not a machine identity ()", ())


def test_deleted_departed_managed_and_unowned_sentences() -> None:
    assert owner_factor(state(deleted=True, owner="bob", owner_event="own-1")) == Factor(
        "owner", -30, "identity deleted but still active", ("own-1",)
    )
    assert owner_factor(state(owner="bob", owner_departed=True, owner_event="own-1")) == Factor(
        "owner", -25, "owner bob has departed", ("own-1",)
    )
    assert owner_factor(state(managed_by="aws")) == Factor("owner", 0, "managed by its provider (aws)")
    # a provider-managed identity someone did name an owner for is judged by that owner
    assert owner_factor(state(managed_by="aws", owner="bob", owner_event="own-1")) == Factor(
        "owner", 0, "owner bob is active", ("own-1",)
    )
    assert owner_factor(state(registered=True)) == Factor("owner", -15, "registered without an owner")


def test_never_registered_says_whether_an_inventory_covers_the_scope() -> None:
    shadow = "never registered though an inventory covers aws:111122223333 (a shadow NHI)"
    assert owner_factor(state(scope_inventoried=True, scope_event="inv-1")) == Factor(
        "owner", -15, shadow, ("inv-1",)
    )
    assert owner_factor(state(scope_inventoried=True)) == Factor("owner", -15, shadow, ())
    assert owner_factor(state()) == Factor(
        "owner", -15, "no known owner (no inventory covers aws:111122223333)"
    )


def test_a_creator_is_a_weaker_owner_than_an_inventory_or_a_tag() -> None:
    assert owner_factor(state(owner="alice", owner_source="creator", owner_event="cr-1")) == Factor(
        "owner", -5, "owned by its creator alice (no inventory or tag names an owner)", ("cr-1",)
    )
    assert owner_factor(state(owner="alice", owner_source="tag", owner_event="tag-1")) == Factor(
        "owner", 0, "owner alice is active", ("tag-1",)
    )
    assert owner_factor(state(owner="alice")) == Factor("owner", 0, "owner alice is active", ())


# --- the other factors --------------------------------------------------------------------------


def test_a_person_using_a_machine_identity_is_its_own_factor() -> None:
    st = state(
        owner="bob",
        kind="machine",
        kind_evidence={"human": ("console sign-in", "ev-9"), "machine": ("x", "y")},
    )
    assert by_name(st)["human_use"] == Factor(
        "human_use", -10, "a machine identity a person used: console sign-in", ("ev-9",)
    )
    assert "human_use" not in by_name(state(owner="bob", kind="machine"))


def test_attestation_names_the_first_three_unattested_issues() -> None:
    creds = [cred(f"c{i}", attested=False) for i in range(4)]
    assert by_name(state(owner="bob", live=live(*creds)))["attestation"] == Factor(
        "attestation", -10, "credentials issued without workload attestation", ("iss-c0", "iss-c1", "iss-c2")
    )
    assert by_name(state(owner="bob", live=live(cred("a"))))["attestation"] == Factor(
        "attestation", 0, "credentials issued with attestation"
    )


def test_with_nothing_live_the_last_issued_credential_is_judged() -> None:
    last = cred("old", attested=False, hours=None)
    f = by_name(state(owner="bob", last_issued=last))
    assert f["attestation"].delta == -10
    assert "credential_lifetime" not in f  # lifetime is about live credentials only
    # ... and live credentials win over the last issued one
    f = by_name(state(owner="bob", live=live(cred("a")), last_issued=last))
    assert f["attestation"] == Factor("attestation", 0, "credentials issued with attestation")
    assert "attestation" not in by_name(state(owner="bob"))


def test_credential_lifetime_sentences_and_their_evidence_cap() -> None:
    never = [cred(f"n{i}", hours=None) for i in range(4)]
    assert by_name(state(owner="bob", live=live(*never)))["credential_lifetime"] == Factor(
        "credential_lifetime", -15, "live credentials that never expire", ("iss-n0", "iss-n1", "iss-n2")
    )
    long_lived = [cred(f"l{i}", hours=48) for i in range(4)]
    assert by_name(state(owner="bob", live=live(*long_lived)))["credential_lifetime"] == Factor(
        "credential_lifetime", -5, "live long-lived credentials", ("iss-l0", "iss-l1", "iss-l2")
    )
    assert by_name(state(owner="bob", live=live(cred("s"))))["credential_lifetime"] == Factor(
        "credential_lifetime", 0, "live credentials are short-lived"
    )


def test_a_credential_expiring_now_is_no_longer_live_and_the_next_expiry_is_returned() -> None:
    at_now = cred("now", hours=0.5)  # issued half an hour ago for half an hour: expires at NOW
    later = cred("later", hours=2)
    soon = cred("soon", hours=1)
    st = state(owner="bob", live=live(at_now, later, soon))
    fs, next_expiry = factors(st, S, NOW)
    assert list(st.live) == ["later", "soon"]
    assert next_expiry == soon.expires_at
    assert {f.name for f in fs} == {"owner", "attestation", "credential_lifetime"}
    # nothing live with an expiry: nothing to wake up for
    assert factors(state(owner="bob", live=live(cred("n", hours=None))), S, NOW)[1] is None


def finding(fid: str, severity: Severity, evidence: list[str]) -> Finding:
    return Finding(
        fid, "unowned-actor", severity, "open", NHI, None, None, "no-owner", "s", NOW, NOW, evidence
    )


def test_open_findings_name_five_ids_and_five_first_evidence_ids() -> None:
    open_ = {f"f{i}": finding(f"f{i}", "low", [f"e{i}", "x"]) for i in (5, 3, 1, 0, 4, 2)}
    open_["f6"] = finding("f6", "low", [])
    closed = finding("f9", "high", ["e9"])
    closed.status = "resolved"
    open_["f9"] = closed
    f = by_name(state(owner="bob", findings=open_))["open_findings"]
    assert f == Factor(
        "open_findings", -35, "7 open finding(s): f0, f1, f2, f3, f4", ("e5", "e3", "e1", "e0", "e4")
    )


def test_drift_names_five_attributes_sorted_and_their_first_evidence() -> None:
    drifted = {f"region=r{i}": f"d{i}" for i in (6, 2, 4, 1, 5, 3)}
    assert by_name(state(owner="bob", drifted=drifted))["drift"] == Factor(
        "drift",
        -15,
        "activity outside baseline: region=r1, region=r2, region=r3, region=r4, region=r5",
        ("d6", "d2", "d4", "d1", "d5"),
    )
    assert "drift" not in by_name(state(owner="bob"))


def test_the_score_is_100_plus_the_deltas_clamped() -> None:
    assert score_of((Factor("a", -30, ""), Factor("b", -25, ""))) == 45
    assert score_of((Factor("a", -60, ""), Factor("b", -60, ""))) == 0
    assert score_of((Factor("a", 10, ""),)) == 100


# --- when the score is recomputed ---------------------------------------------------------------


def test_an_unchanged_state_is_not_recomputed() -> None:
    st = state(owner="bob")
    assert update_trust(st, S, NOW, "e1") is not None
    # A field written without counting a version is not an input change: the cached verdict stands.
    st.deleted = True
    assert update_trust(st, S, NOW, "e2") is None
    st.version += 1
    change = update_trust(st, S, NOW, "e3")
    assert change is not None and (change.score, change.previous, change.event_id) == (70, 100, "e3")


def test_the_score_is_recomputed_at_the_instant_a_credential_expires() -> None:
    long_lived = cred("l", hours=48, issued_h=-47)  # expires an hour after NOW
    st = state(owner="bob", live=live(long_lived))
    first = update_trust(st, S, NOW, "e1")
    assert first is not None and first.score == 95
    assert st.trust_valid_until == long_lived.expires_at
    assert update_trust(st, S, NOW + timedelta(minutes=59), "e2") is None
    at_expiry = update_trust(st, S, NOW + timedelta(hours=1), "e3")
    assert at_expiry is not None and (at_expiry.score, at_expiry.previous) == (100, 95)
