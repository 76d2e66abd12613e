"""The catalogue: which incidents and look-alikes the organisation contains, and ownership stories.

Every story takes one dedicated NHI and plays its whole day, so stories never interfere with
each other or with ordinary traffic, and each truth entry has exactly one cause. Kind-specific
stories live with their kind; the ownership and lifecycle stories here work for any kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synthetic import agents, aws, ci, k8s, spiffe, vault, workloads
from synthetic.model import UNOWNED_ACTOR
from synthetic.names import NamePool
from synthetic.sim import MIN, Actor, Sim
from synthetic.world import World


@dataclass(frozen=True, slots=True)
class Kind:
    share: float  # of the organisation's identities
    make: Callable[[Sim, NamePool], Actor]
    life: Callable[[Sim, Actor, int, int], None]  # ordinary activity in [t0, t1)
    busy: Callable[[Sim, Actor, int, int], None]  # one guaranteed burst of activity


KINDS: dict[str, Kind] = {
    "k8s": Kind(0.40, k8s.make, k8s.life, k8s.busy),
    "aws": Kind(0.18, aws.make, aws.life, aws.busy),
    "vault": Kind(0.12, vault.make, vault.life, vault.busy),
    "ci": Kind(0.12, ci.make, ci.life, ci.busy),
    "spiffe": Kind(0.08, spiffe.make, spiffe.life, spiffe.busy),
    "agent": Kind(0.10, agents.make, agents.life, agents.busy),
}


def normal(w: World, a: Actor) -> None:
    """An ordinary, well-run identity: registered with an active owner before it acts."""
    sim = w.sim
    t0 = w.onboard(a, late_ok=True)
    KINDS[a.kind].life(sim, a, t0, sim.horizon)
    if sim.rng.random() < 0.05 and t0 + 20 * MIN < sim.horizon - 20 * MIN:
        # ownership moves between teams during the day; the new owner is just as active
        w.update(a, sim.rng.randint(t0 + 10 * MIN, sim.horizon - 10 * MIN), w.names.owner())


def _use_after(w: World, a: Actor, lo: int, hi: int) -> None:
    """Guarantee one credential use in [lo, hi): a Poisson burst may by chance have none."""
    t, c = w.sim.find_live(a.nhi, lo, hi)
    w.sim.use(c, t, ("read", "activity"))


# -- unowned-actor --------------------------------------------------------------------------


def never_registered(w: World, a: Actor) -> None:
    sim = w.sim
    KINDS[a.kind].life(sim, a, sim.rng.randint(1 * MIN, 20 * MIN), sim.horizon)
    w.expect(UNOWNED_ACTOR, a, "never-registered", "acts all day but was never registered in the inventory")


def registered_without_owner(w: World, a: Actor) -> None:
    sim = w.sim
    t0 = w.onboard(a, owner=None)
    KINDS[a.kind].life(sim, a, t0, sim.horizon)
    KINDS[a.kind].busy(sim, a, t0 + 5 * MIN, t0 + 35 * MIN)
    w.expect(UNOWNED_ACTOR, a, "no-owner", "registered without an owner and acting")


def owner_assigned_late(w: World, a: Actor) -> None:
    """No owner at first; a team claims it mid-day (the finding then resolves, but it was real)."""
    registered_without_owner(w, a)
    w.update(a, w.at(0.5, 0.7), f"team-{w.names.team()}")


def owner_departed(w: World, a: Actor) -> None:
    sim = w.sim
    a.owner = w.names.leaver()
    KINDS[a.kind].life(sim, a, w.onboard(a), sim.horizon)
    gone = w.at(0.35, 0.6)
    w.depart(a.owner, gone)
    KINDS[a.kind].busy(sim, a, gone + 5 * MIN, gone + 35 * MIN)
    _use_after(w, a, gone + 6 * MIN, gone + 33 * MIN)
    w.expect(UNOWNED_ACTOR, a, "owner-departed", f"owner {a.owner} left the company; the NHI keeps acting")


def deleted_still_acting(w: World, a: Actor) -> None:
    sim = w.sim
    t0 = w.onboard(a)
    gone = w.at(0.4, 0.6)
    KINDS[a.kind].life(sim, a, t0, gone + sim.rng.randint(30 * MIN, 45 * MIN))
    KINDS[a.kind].busy(sim, a, gone - 10 * MIN, gone + 25 * MIN)
    w.delete(a, gone)
    _use_after(w, a, gone + 2 * MIN, gone + 22 * MIN)
    w.expect(
        UNOWNED_ACTOR, a, "identity-deleted", "deleted from the inventory while its workload kept running"
    )


# -- ownership look-alikes -------------------------------------------------------------------


def reassigned_before_departure(w: World, a: Actor) -> None:
    sim = w.sim
    leaver = a.owner = w.names.leaver()
    KINDS[a.kind].life(sim, a, w.onboard(a), sim.horizon)
    moved = w.at(0.25, 0.45)
    w.update(a, moved, f"team-{a.team}" if a.kind == "k8s" else f"team-{w.names.team()}")
    gone = moved + sim.rng.randint(10 * MIN, 180 * MIN)
    w.depart(leaver, gone)
    KINDS[a.kind].busy(sim, a, gone + 5 * MIN, gone + 35 * MIN)
    w.ok("owner-reassigned-before-departure", a, f"moved from {leaver} to a team before {leaver} left")


def idle_until_reassigned(w: World, a: Actor) -> None:
    sim = w.sim
    leaver = a.owner = w.names.leaver()
    pause = w.at(0.3, 0.4)
    KINDS[a.kind].life(sim, a, w.onboard(a), pause)
    gone = pause + sim.rng.randint(10 * MIN, 30 * MIN)
    w.depart(leaver, gone)
    back = gone + sim.rng.randint(30 * MIN, 90 * MIN)
    w.update(a, back, f"team-{w.names.team()}")
    KINDS[a.kind].life(sim, a, back + sim.rng.randint(2 * MIN, 10 * MIN), sim.horizon)
    w.ok(
        "departed-owner-idle-until-reassigned", a, f"idle from {leaver}'s departure until a team took it over"
    )


def deleted_after_teardown(w: World, a: Actor) -> None:
    sim = w.sim
    stop = w.at(0.5, 0.7)
    KINDS[a.kind].life(sim, a, w.onboard(a), stop)
    w.delete(a, stop + sim.rng.randint(5 * MIN, 30 * MIN))
    w.ok("deleted-after-clean-teardown", a, "decommissioned: tasks ended, credentials revoked, then deleted")


@dataclass(frozen=True, slots=True)
class Story:
    kind: str
    play: Callable[[World, Actor], None]


# One pass of the catalogue per 400 identities. Incidents first, then look-alikes.
INCIDENTS: tuple[Story, ...] = (
    # token-outlived-task (a), (b) and both
    Story("k8s", k8s.completed_pod_kept_token),
    Story("aws", aws.twelve_hour_session),
    Story("vault", vault.killed_alloc_kept_token),
    Story("ci", ci.runner_crash_kept_token),
    Story("agent", agents.session_key_never_expires),
    Story("k8s", k8s.token_used_after_pod_deleted),
    Story("aws", aws.session_used_after_job),
    Story("vault", vault.token_used_after_alloc),
    Story("ci", ci.oidc_used_after_run),
    Story("agent", agents.session_key_reused_later),
    Story("k8s", k8s.completed_pod_token_replayed),
    # unowned-actor
    Story("aws", never_registered),
    Story("k8s", never_registered),
    Story("agent", never_registered),
    Story("vault", registered_without_owner),
    Story("spiffe", owner_assigned_late),
    Story("k8s", owner_departed),
    Story("vault", owner_departed),
    Story("agent", owner_departed),
    Story("ci", owner_departed),
    Story("aws", deleted_still_acting),
    Story("agent", deleted_still_acting),
    Story("spiffe", deleted_still_acting),
    Story("vault", deleted_still_acting),
    # context-drift, credential level
    Story("k8s", k8s.token_replayed_from_outside),
    Story("k8s", k8s.token_used_by_other_pod),
    Story("aws", aws.keys_used_from_other_instance),
    Story("vault", vault.token_used_from_other_node),
    Story("spiffe", spiffe.svid_from_other_node),
    Story("agent", agents.static_key_from_unknown_ip),
    # context-drift, workload credentials used outside their workload
    Story("aws", workloads.stolen_into_operators_seat),
    Story("aws", workloads.stolen_outside_networks),
    Story("aws", workloads.stolen_to_another_platform),
    Story("aws", workloads.stolen_to_another_instance),
    # context-drift, identity level
    Story("aws", aws.used_in_new_region),
    Story("aws", aws.used_in_new_region),
    Story("k8s", k8s.token_minted_for_other_cluster),
    Story("k8s", k8s.active_in_new_namespace),
    Story("spiffe", spiffe.injected_container),
    Story("vault", vault.login_from_laptop),
    Story("agent", agents.key_minted_in_new_region),
)

LOOK_ALIKES: tuple[Story, ...] = (
    Story("k8s", k8s.token_lapses_within_overhang),
    Story("aws", aws.sessions_lapse),
    Story("ci", ci.oidc_lapses),
    Story("k8s", k8s.revoked_at_pod_end),
    Story("vault", vault.revoked_at_alloc_stop),
    Story("ci", ci.token_revoked_at_completion),
    Story("vault", vault.revoked_by_prestop),
    Story("agent", agents.logout_before_end),
    Story("k8s", k8s.last_call_within_grace),
    Story("aws", aws.last_call_within_grace),
    Story("k8s", k8s.rescheduled_pod),
    Story("spiffe", spiffe.moved_replica),
    Story("k8s", k8s.rotating_tokens),
    Story("k8s", k8s.replicas_on_many_nodes),
    Story("spiffe", spiffe.replicas_on_many_nodes),
    Story("k8s", k8s.image_rollout),
    Story("aws", aws.two_regions),
    Story("aws", workloads.agents_on_own_addresses),
    Story("agent", agents.two_regions),
    Story("agent", agents.static_key),
    Story("k8s", reassigned_before_departure),
    Story("vault", reassigned_before_departure),
    Story("aws", idle_until_reassigned),
    Story("k8s", deleted_after_teardown),
    Story("vault", deleted_after_teardown),
)

BENIGN_KINDS = (
    "expires-within-overhang",
    "revoked-at-task-end",
    "revoked-before-task-end",
    "use-within-grace",
    "rescheduled-new-node",
    "token-rotation-same-pod",
    "replicas-different-nodes",
    "image-rollout-attested",
    "learning-phase-variety",
    "static-key-not-task-bound",
    "owner-reassigned-before-departure",
    "departed-owner-idle-until-reassigned",
    "deleted-after-clean-teardown",
    "instance-agents-on-own-addresses",
)
