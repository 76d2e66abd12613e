"""AI agents: sessions as tasks, API keys as credentials, not attested.

Two habits coexist, as they do in practice: agents holding a static API key per deployment
region (never expires, bound to no session, so it is not a token-outlived-task case), and
agents that get a session-scoped key at session start and log out (revoke it) at the end.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from synthetic.names import NamePool
from synthetic.sim import HOUR, MIN, SEC, Actor, Cred, CredSpec, Ctx, EndPolicy, Sim, Task
from synthetic.world import World

REGIONS = ("us-east-1", "eu-west-1", "us-west-2")
ALL_REGIONS = (*REGIONS, "eu-central-1", "ap-northeast-1", "ap-south-1")
STATIC_KEY = CredSpec("api-key", None, None, False, "sk-fp:")
SESSION_KEY = CredSpec("api-key", HOUR, None, False, "sk-fp:")
USER_AGENTS = (
    "openai-python/1.40.0 agent-runtime/0.9",
    "anthropic-sdk-python/0.34 langgraph/0.2",
    "httpx/0.27 crewai/0.55",
)


def make(sim: Sim, names: NamePool) -> Actor:
    rng = sim.rng
    name = names.agent()
    region = rng.choice(REGIONS)
    opts: dict[str, Any] = {
        "static": rng.random() < 0.6,
        "sessions": rng.uniform(0.4, 1.5),  # sessions started per hour and region
        "rate": rng.uniform(12, 40),  # model and tool calls per session-hour
        "ua": rng.choice(USER_AGENTS),
        "egress": {region: _egress(sim)},
        "keys": {},
        "actions": [
            ("llm:chat.completions", "model:gpt-4o"),
            ("llm:messages", "model:claude-sonnet"),
            ("tool:jira.search", "jira:project/OPS"),
            ("tool:github.read", "github:example-org"),
            ("tool:confluence.read", "confluence:space/ENG"),
        ],
    }
    ident = {"env": "prod", "region": region}
    return Actor(f"agent:{name}", "agent", name, "agents", names.owner(), f"{name} AI agent", [ident], opts)


def _egress(sim: Sim) -> str:
    return f"34.{sim.rng.randint(0, 255)}.{sim.rng.randint(0, 255)}.{sim.rng.randint(2, 254)}"


def add_region(sim: Sim, a: Actor, region: str) -> None:
    a.ident.append({**a.ident[0], "region": region})
    a.declare("region", region)
    a.opts["egress"][region] = _egress(sim)


def _ctx(a: Actor, r: int) -> Ctx:
    region = a.ident[r]["region"]
    return {**a.ident[r], "ip": a.opts["egress"][region], "user_agent": a.opts["ua"]}


def session(
    sim: Sim,
    a: Actor,
    r: int,
    start: int,
    end: int,
    *,
    keyed: bool | None = None,
    spec: CredSpec = SESSION_KEY,
    policy: EndPolicy = "revoke",
    after_end: tuple[int, ...] = (),
) -> Task:
    ctx = _ctx(a, r)
    task_id = f"agent-session:{a.name}/{sim.uuid()}"
    if keyed or (keyed is None and not a.opts["static"]):
        return sim.run_task(
            a.nhi,
            task_id,
            start,
            end,
            ctx,
            spec,
            a.opts["rate"],
            a.opts["actions"],
            policy=policy,
            after_end=after_end,
        )
    key: Cred = a.opts["keys"][r]
    task = sim.start_task(a.nhi, task_id, start, ctx)
    sim.uses([key], start, end, a.opts["rate"], a.opts["actions"])
    sim.end_task(task, end, "auto", 0.0)
    return task


def life(sim: Sim, a: Actor, t0: int, t1: int) -> None:
    rng = sim.rng
    for r in range(len(a.ident)):
        if a.opts["static"]:
            # keys are (re)issued as the agent is deployed, in every region, before any session
            a.opts["keys"][r] = sim.issue(
                a.nhi, t0 + r * rng.randint(1 * SEC, 3 * SEC), STATIC_KEY, _ctx(a, r), None, None
            )
    for r in range(len(a.ident)):
        t = t0 + 5 * SEC + r * rng.randint(2 * SEC, 5 * SEC)
        while True:
            end = t + rng.randint(1 * MIN, 30 * MIN)
            if end >= t1 or end >= sim.horizon:
                break
            session(sim, a, r, t, end, policy="revoke-early" if rng.random() < 0.2 else "revoke")
            t = end + int(rng.expovariate(1.0) * HOUR / a.opts["sessions"]) + SEC


def busy(sim: Sim, a: Actor, start: int, end: int) -> None:
    if a.opts["static"] and 0 not in a.opts["keys"]:
        a.opts["keys"][0] = sim.issue(a.nhi, start - 5 * SEC, STATIC_KEY, _ctx(a, 0), None, None)
    session(sim, a, 0, start, end)


# -- incidents ------------------------------------------------------------------------------


def session_key_never_expires(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    forever = replace(SESSION_KEY, ttl=None)
    task = session(
        sim, a, 0, s, s + sim.rng.randint(5 * MIN, 25 * MIN), keyed=True, spec=forever, policy="leave"
    )
    w.expect_outlived(a, task, "session ended without logout; its non-expiring key stays valid")


def session_key_reused_later(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.5)
    day = replace(SESSION_KEY, ttl=12 * HOUR)
    end = s + sim.rng.randint(5 * MIN, 25 * MIN)
    task = session(sim, a, 0, s, end, keyed=True, spec=day, policy="leave", after_end=(30 * MIN,))
    w.expect_outlived(a, task, "12h session key not revoked, then used 30 min after the session")


def static_key_from_unknown_ip(w: World, a: Actor) -> None:
    a.opts["static"] = True
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    outside = f"185.220.101.{sim.rng.randint(2, 254)}"
    w.replay(
        a, {"ip": outside}, "static API key used from an unknown address", a.opts["actions"], bound=False
    )


def key_minted_in_new_region(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    t = w.at(0.55, 0.8)
    region = sim.rng.choice([r for r in ALL_REGIONS if r not in a.declared["region"]])
    ctx: Ctx = {"env": "prod", "region": region, "ip": _egress(sim), "user_agent": a.opts["ua"]}
    key = sim.issue(a.nhi, t, STATIC_KEY, ctx, None, None)
    sim.use(key, t + sim.rng.randint(10 * SEC, 60 * SEC), a.opts["actions"][0])
    sim.uses([key], t + 2 * MIN, t + 45 * MIN, 10.0, a.opts["actions"])
    w.drift(a, ctx, f"agent key created and used from region {region}")


# -- look-alikes ----------------------------------------------------------------------------


def logout_before_end(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(
        session(sim, a, 0, s, s + sim.rng.randint(5 * MIN, 25 * MIN), keyed=True, policy="revoke-early")
    )
    w.ok("revoked-before-task-end", a, f"agent logged out (key revoked) before session {task.id} closed")


def two_regions(w: World, a: Actor) -> None:
    sim = w.sim
    add_region(sim, a, sim.rng.choice([r for r in REGIONS if r not in a.declared["region"]]))
    life(sim, a, w.onboard(a), sim.horizon)
    w.ok(
        "learning-phase-variety",
        a,
        f"agent active in {', '.join(sorted(a.declared['region']))} from the start",
    )


def static_key(w: World, a: Actor) -> None:
    a.opts["static"] = True
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok("static-key-not-task-bound", a, "non-expiring API key used across many sessions; bound to none")
