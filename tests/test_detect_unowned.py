"""unowned-actor: owner departed (high), deleted yet active (high), a shadow NHI - never registered
though an inventory covers its scope (medium), registered without an owner (medium); nothing for
an identity merely never registered where no inventory covers its scope, for people, and for
provider-managed identities."""

from __future__ import annotations

from typing import Any

from tests.scenario import final, play, rec, registered, summary

NHI = "aws:123456789012:role/ci-deployer"
DET = "unowned-actor"


def used(minute: float, cred: str = "ASIA1") -> dict[str, Any]:
    return rec("credential.used", minute, nhi=NHI, credential=cred, action="s3:PutObject")


SIBLING = "aws:123456789012:role/billing"  # another identity of the same scope (the account)
OTHER_SCOPE = "aws:999999999999:role/billing"


def test_never_registered_with_no_inventory_for_its_scope_is_no_finding() -> None:
    out, _ = play([registered(OTHER_SCOPE), used(1)])
    assert not out.findings
    trust = [c for c in out.trust if c.nhi == NHI][-1]
    owner = next(f for f in trust.factors if f.name == "owner")
    assert (owner.delta, owner.detail) == (-15, "no known owner (no inventory covers aws:123456789012)")


def test_never_registered_in_an_inventoried_scope_is_a_medium_shadow_nhi() -> None:
    out, _ = play([registered(SIBLING), used(1)])
    (f,) = final(out).values()
    assert (f.detector, f.reason, f.severity, f.status) == (DET, "never-registered", "medium", "open")
    assert "never registered though an inventory covers aws:123456789012" in f.summary
    assert f.details["scope"] == "aws:123456789012"


def test_an_inventory_loaded_later_makes_an_active_identity_a_shadow_nhi() -> None:
    out, _ = play([used(1), registered(SIBLING, minute=30)])
    (f,) = final(out).values()
    assert (f.reason, f.first_seen.minute) == ("never-registered", 30)
    assert len(f.evidence) == 1  # the inventory registration that revealed it


def test_owner_tags_and_creators_from_logs_are_owners() -> None:
    tagged = registered(NHI, owner="team-data", attrs={"owner_source": "tag"})
    out, _ = play([registered(SIBLING), tagged, used(1)])
    assert not out.findings
    created = registered(NHI, owner="aws:123456789012:user/alice", attrs={"owner_source": "creator"})
    out, _ = play([registered(SIBLING), created, used(1)])
    assert not out.findings
    owner = next(f for f in out.trust[-1].factors if f.name == "owner")
    assert owner.delta == -5 and "owned by its creator" in owner.detail


def test_a_weaker_owner_source_does_not_replace_the_inventory_owner() -> None:
    created = registered(
        NHI, owner="aws:123456789012:user/alice", minute=2, attrs={"owner_source": "creator"}
    )
    _, engine = play([registered(NHI, owner="team-a"), created, used(3)])
    st = engine.state.nhis[NHI]
    assert (st.owner, st.owner_source) == ("team-a", "inventory")


def test_provider_managed_identities_are_never_unowned() -> None:
    linked = "aws:123456789012:role/AWSServiceRoleForConfig"
    use = rec("credential.used", 1, nhi=linked, credential="ASIA9", attrs={"managed_by": "aws"})
    out, engine = play([registered(SIBLING), use])
    assert not out.findings
    assert engine.state.nhis[linked].managed_by == "aws"


def test_registered_without_owner_is_medium() -> None:
    out, _ = play([rec("identity.registered", 0, nhi=NHI, purpose="deploys"), used(1)])
    assert summary(out) == {(DET, NHI, "no-owner", "open")}
    assert "no registered owner" in next(iter(final(out).values())).summary


def test_owned_nhi_raises_nothing() -> None:
    out, _ = play([registered(NHI), used(1), rec("credential.issued", 2, nhi=NHI, credential="ASIA2")])
    assert not out.findings


def test_owner_departed_is_high_and_resolved_by_new_owner() -> None:
    records = [
        registered(NHI, owner="alice@example.com"),
        used(1),
        rec("owner.departed", 5, owner="alice@example.com"),  # no nhi: resolved via the owner index
        used(6),
        used(7),
        rec("identity.updated", 10, nhi=NHI, owner="team-platform"),
        used(11),
    ]
    out, _ = play(records)
    versions = [f for f in out.findings if f.detector == DET]
    assert [(v.activity, v.status) for v in versions] == [
        ("create", "open"),
        ("update", "open"),
        ("close", "resolved"),
    ]
    assert versions[0].severity == "high" and versions[0].reason == "owner-departed"
    # the departure event is part of the evidence
    assert len(versions[0].evidence) == 2


def test_departure_of_a_previous_owner_does_not_count() -> None:
    records = [
        registered(NHI, owner="alice@example.com"),
        rec("identity.updated", 2, nhi=NHI, owner="team-platform"),
        rec("owner.departed", 5, owner="alice@example.com"),
        used(6),
    ]
    out, _ = play(records)
    assert not out.findings


def test_owner_assigned_after_departing_is_departed() -> None:
    records = [
        rec("owner.departed", 1, owner="bob@example.com"),
        registered(NHI, owner="bob@example.com", minute=60),
        used(61),
    ]
    out, _ = play(records)
    assert summary(out) == {(DET, NHI, "owner-departed", "open")}


def test_deleted_identity_acting_is_high() -> None:
    out, _ = play([registered(NHI), rec("identity.deleted", 3, nhi=NHI), used(4)])
    (f,) = final(out).values()
    assert (f.reason, f.severity) == ("identity-deleted", "high")


def test_one_open_finding_per_reason() -> None:
    out, _ = play([registered(SIBLING), *(used(i) for i in range(10))])
    assert len(final(out)) == 1
    assert [f.activity for f in out.findings].count("create") == 1


def test_human_principals_are_not_unowned_actors() -> None:
    rec_h = rec(
        "credential.used", 1, nhi="aws:1:human/alice", credential="AKIA", attrs={"principal_kind": "human"}
    )
    out, _ = play([rec_h])
    assert not out.findings


def test_registration_with_owner_resolves_never_registered() -> None:
    out, _ = play([registered(SIBLING), used(1), registered(NHI, minute=2)])
    assert summary(out) == {(DET, NHI, "never-registered", "resolved")}
