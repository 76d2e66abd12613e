"""Vault AppRoles used by Nomad allocations: approle login per allocation, not attested.

Each allocation logs in at start and again before its token's TTL (20-60 min) runs out; Nomad
revokes the allocation's tokens when it stops, which is why normal traffic revokes exactly at
(or, with a pre-stop hook, just before) the task's end.
"""

from __future__ import annotations

from dataclasses import replace

from synthetic.names import NamePool
from synthetic.sim import HOUR, MIN, SEC, Actor, CredSpec, Ctx, EndPolicy, Sim, Task
from synthetic.world import World

REGIONS = ("eu-west-1", "us-east-1")


def make(sim: Sim, names: NamePool) -> Actor:
    rng = sim.rng
    env = rng.choices(("prod", "staging"), (0.75, 0.25))[0]
    name = names.unique("vault", f"{names.service('vault-svc')}-{env}")
    team = names.team()
    svc = name.rsplit("-", 1)[0]
    ttl = rng.choice((20, 30, 45, 60)) * MIN
    ident = {
        "env": env,
        "region": rng.choice(REGIONS),
        "image": f"registry.example.org/{team}/{svc}:3.{rng.randint(0, 20)}",
    }
    opts = {
        "spec": CredSpec("vault-approle", ttl, ttl * 3 // 4, False, "hmac-sha256:"),
        "workload": "batch" if rng.random() < 0.35 else "service",
        "allocs": rng.choice((1, 1, 2)),
        "period": rng.choice((30, 60, 120, 240)) * MIN,
        "rate": rng.uniform(0.8, 4.0),  # secret reads per allocation-hour
        "restart": rng.random() < 0.2,
        "actions": [
            ("read", f"secret/data/{team}/{svc}/config"),
            ("read", f"database/creds/{svc}-ro"),
            ("update", f"transit/encrypt/{svc}"),
            ("read", f"pki/issue/{svc}"),
        ],
    }
    return Actor(
        f"vault:approle/{name}", "vault", name, team, names.owner(), f"{svc} secrets ({env})", [ident], opts
    )


def node(sim: Sim, region: str) -> str:
    return sim.pick(f"nomad/{region}", 30, lambda: f"nomad-client-{region}-{sim.hex(4)}")


def alloc(
    sim: Sim,
    a: Actor,
    start: int,
    end: int | None,
    *,
    on: str | None = None,
    spec: CredSpec | None = None,
    policy: EndPolicy = "revoke",
    after_end: tuple[int, ...] = (),
    rate: float | None = None,
) -> Task:
    ident = a.ident[0]
    ctx: Ctx = {**ident, "node": on or node(sim, ident["region"]), "ip": sim.ip("10.50")}
    return sim.run_task(
        a.nhi,
        f"nomad:alloc/{sim.uuid()}",
        start,
        end,
        ctx,
        spec or a.opts["spec"],
        a.opts["rate"] if rate is None else rate,
        a.opts["actions"],
        policy=policy,
        after_end=after_end,
    )


def life(sim: Sim, a: Actor, t0: int, t1: int) -> None:
    rng = sim.rng
    final = t1 if t1 < sim.horizon else None
    if a.opts["workload"] == "batch":
        t = t0
        while True:
            end = t + rng.randint(2 * MIN, 20 * MIN)
            if end >= t1:
                break
            alloc(
                sim,
                a,
                t,
                end,
                policy="revoke-early" if rng.random() < 0.25 else "revoke",
                rate=rng.uniform(10, 40),
            )
            t += a.opts["period"] + rng.randint(0, 30 * SEC)
        return
    for i in range(a.opts["allocs"]):
        s = t0 + i * rng.randint(1 * SEC, 20 * SEC)
        if a.opts["restart"] and i == 0 and t1 - s > 2 * HOUR:
            # The allocation is rescheduled onto another client: a new alloc, a new login.
            cut = rng.randint(s + HOUR, t1 - HOUR)
            alloc(sim, a, s, cut)
            s = cut + rng.randint(2 * SEC, 30 * SEC)
        alloc(sim, a, s, final)


def busy(sim: Sim, a: Actor, start: int, end: int) -> None:
    alloc(sim, a, start, end, rate=max(a.opts["rate"], 6.0))


# -- incidents ------------------------------------------------------------------------------


def killed_alloc_kept_token(w: World, a: Actor) -> None:
    """An allocation killed with -9: Nomad never revoked its 12h periodic token."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    periodic = replace(a.opts["spec"], ttl=12 * HOUR, refresh=None)
    task = alloc(sim, a, s, s + sim.rng.randint(5 * MIN, 30 * MIN), spec=periodic, policy="leave", rate=20)
    w.expect_outlived(a, task, "allocation killed; its 12h Vault token was never revoked")


def token_used_after_alloc(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    left = sim.rng.randint(10 * MIN, 13 * MIN)
    short = replace(a.opts["spec"], ttl=20 * MIN, refresh=None)
    late = sim.rng.randint(3 * MIN, 5 * MIN)
    task = alloc(
        sim, a, s, s + 20 * MIN - left - 2 * SEC, spec=short, policy="leave", after_end=(late,), rate=20
    )
    w.expect_outlived(a, task, f"Vault token used {late // MIN} min after its allocation stopped")


def token_used_from_other_node(w: World, a: Actor) -> None:
    a.opts.update(workload="service")
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    overrides = {"node": f"nomad-client-rogue-{sim.hex(4)}", "ip": sim.ip("10.51")}
    w.replay(a, overrides, "Vault token used from another Nomad client", a.opts["actions"], bound=True)


def login_from_laptop(w: World, a: Actor) -> None:
    """The AppRole's role-id and secret-id, copied to a laptop, log in from a dev environment."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    t = w.at(0.55, 0.8)
    ctx: Ctx = {"env": "dev", "region": "us-west-2", "ip": f"203.0.113.{sim.rng.randint(2, 254)}"}
    c = sim.issue(a.nhi, t, a.opts["spec"], ctx, None, a.opts["spec"].ttl)
    for k in range(sim.rng.randint(2, 5)):
        sim.use(c, t + (k + 1) * sim.rng.randint(20 * SEC, 2 * MIN), a.opts["actions"][k % 2])
    w.drift(a, ctx, "AppRole login from a laptop in a dev environment and region")


# -- look-alikes ----------------------------------------------------------------------------


def revoked_at_alloc_stop(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(alloc(sim, a, s, s + sim.rng.randint(10 * MIN, 90 * MIN), policy="revoke", rate=10))
    w.ok("revoked-at-task-end", a, f"Nomad revoked the token as allocation {task.id} stopped")


def revoked_by_prestop(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(alloc(sim, a, s, s + sim.rng.randint(10 * MIN, 90 * MIN), policy="revoke-early", rate=10))
    w.ok("revoked-before-task-end", a, f"pre-stop hook revoked the token before allocation {task.id} ended")
