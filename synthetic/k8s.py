"""Kubernetes service accounts: pods as tasks, kubelet-refreshed bound tokens, attested.

A deployment's pods run for hours; the kubelet re-requests the projected token at 80% of its
hour, so one pod holds a chain of tokens that all share its pod_uid, node and ip. A cronjob's
pods run minutes and their token is revoked when the finished pod is deleted.
"""

from __future__ import annotations

from dataclasses import replace

from synthetic.names import NamePool
from synthetic.sim import HOUR, MIN, SEC, Actor, CredSpec, Ctx, EndPolicy, Sim, Task
from synthetic.world import World

# cluster -> (env, region, pod network prefix)
CLUSTERS: dict[str, tuple[str, str, str]] = {
    "prod-eu-1": ("prod", "eu-west-1", "10.20"),
    "prod-us-1": ("prod", "us-east-1", "10.30"),
    "staging-eu-1": ("staging", "eu-west-1", "10.40"),
}
_WEIGHTS = (0.45, 0.35, 0.20)

TOKEN = CredSpec("k8s-bound-token", HOUR, 48 * MIN, True, "jti:", p_leave=0.35)
# `kubectl create token --duration=...`: a TokenRequest made by a person, not by a kubelet for a
# pod, so it is neither attested nor bound to a task.
MINTED = CredSpec("k8s-token-request", 48 * HOUR, None, False, "jti:")


def make(sim: Sim, names: NamePool) -> Actor:
    rng = sim.rng
    cluster = rng.choices(list(CLUSTERS), _WEIGHTS)[0]
    env, region, _ = CLUSTERS[cluster]
    ns = names.team()
    name = names.service(f"k8s/{cluster}/{ns}")
    image = f"registry.example.org/{ns}/{name}:1.{rng.randint(0, 40)}.{rng.randint(0, 9)}"
    ident = {"cluster": cluster, "namespace": ns, "env": env, "region": region, "image": image}
    opts = {
        "workload": "cronjob" if rng.random() < 0.25 else "deployment",
        "replicas": rng.choice((1, 1, 1, 2, 2, 3)),
        "rate": rng.uniform(0.8, 3.5),  # API calls per pod-hour
        "period": rng.choice((30, 60, 60, 120, 240)) * MIN,
        "rollout": rng.random() < 0.2,
        "evict": rng.random() < 0.15,
        "actions": [
            ("get", f"configmaps/{ns}/{name}-config"),
            ("list", f"pods/{ns}"),
            ("watch", f"endpoints/{ns}"),
            ("update", f"leases/{ns}/{name}-leader"),
            ("get", f"secrets/{ns}/{name}-db"),
            ("create", f"events/{ns}"),
        ],
    }
    purpose = f"{name} workload in {cluster}/{ns}"
    return Actor(f"k8s:{cluster}/{ns}/{name}", "k8s", name, ns, names.owner(), purpose, [ident], opts)


def node(sim: Sim, cluster: str) -> str:
    return sim.pick(f"nodes/{cluster}", 40, lambda: f"{cluster}-pool-{sim.rng.choice('abc')}-{sim.hex(5)}")


def pod(
    sim: Sim,
    a: Actor,
    start: int,
    end: int | None,
    *,
    image: str | None = None,
    on: str | None = None,
    spec: CredSpec = TOKEN,
    policy: EndPolicy = "auto",
    after_end: tuple[int, ...] = (),
    rate: float | None = None,
) -> Task:
    ident = a.ident[0]
    cluster = ident["cluster"]
    ctx: Ctx = {
        **ident,
        "image": image or ident["image"],
        "node": on or node(sim, cluster),
        "pod_uid": sim.uuid(),
        "ip": sim.ip(CLUSTERS[cluster][2]),
    }
    task_id = f"pod:{cluster}/{ident['namespace']}/{a.name}-{sim.hex(9)}-{sim.hex(5)}"
    return sim.run_task(
        a.nhi,
        task_id,
        start,
        end,
        ctx,
        spec,
        a.opts["rate"] if rate is None else rate,
        a.opts["actions"],
        policy=policy,
        attested_start=True,
        after_end=after_end,
    )


def life(sim: Sim, a: Actor, t0: int, t1: int) -> None:
    rng = sim.rng
    final: int | None = t1 if t1 < sim.horizon else None
    if a.opts["workload"] == "cronjob":
        t = t0
        while True:
            dur = rng.randint(30 * SEC, 8 * MIN)
            if t + dur >= t1:
                break
            policy: EndPolicy = "revoke-early" if rng.random() < 0.2 else "revoke"
            pod(sim, a, t, t + dur, policy=policy, rate=rng.uniform(20, 60))
            t += a.opts["period"] + rng.randint(0, 20 * SEC)
        return
    span = t1 - t0
    rollout = t0 + rng.randint(span // 5, span * 4 // 5) if a.opts["rollout"] and span > 2 * HOUR else None
    evict = t0 + rng.randint(span // 5, span * 4 // 5) if a.opts["evict"] and span > 2 * HOUR else None
    if rollout is not None and evict is not None and abs(rollout - evict) < 10 * MIN:
        evict = None
    image = a.ident[0]["image"]
    new_image = image.rsplit(":", 1)[0] + f":2.{rng.randint(0, 9)}.0"
    if rollout is not None:
        a.declare("image", new_image)  # declared by the new pods' attested starts
    for r in range(a.opts["replicas"]):
        cuts = sorted(c for c in (rollout, evict if r == 0 else None) if c is not None)
        s = t0 + rng.randint(0, 20 * SEC) + r * rng.randint(1 * SEC, 30 * SEC)
        where = node(sim, a.ident[0]["cluster"])
        for cut in cuts:
            img = new_image if rollout is not None and s > rollout else image
            pod(sim, a, s, cut, image=img, on=where, policy="auto")
            s = cut + rng.randint(2 * SEC, 20 * SEC)
            if cut == evict:  # rescheduled: the replacement lands on another node
                where = _other_node(sim, a.ident[0]["cluster"], where)
        img = new_image if rollout is not None and s > rollout else image
        pod(sim, a, s, final, image=img, on=where, policy="revoke")


def _other_node(sim: Sim, cluster: str, current: str) -> str:
    while True:
        n = node(sim, cluster)
        if n != current:
            return n


def busy(sim: Sim, a: Actor, start: int, end: int) -> None:
    pod(sim, a, start, end, policy="revoke", rate=max(a.opts["rate"], 6.0))


# -- incidents ------------------------------------------------------------------------------


def completed_pod_kept_token(w: World, a: Actor) -> None:
    """A job pod finished but was never deleted; its token was requested for a year."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    year = replace(TOKEN, ttl=365 * 24 * HOUR, refresh=None)
    task = pod(sim, a, s, s + sim.rng.randint(2 * MIN, 8 * MIN), spec=year, policy="leave", rate=30)
    w.expect_outlived(a, task, "job pod completed but not deleted: its 1-year token stays valid")


def token_used_after_pod_deleted(w: World, a: Actor) -> None:
    """A pod deleted 47-49 min into its token's hour; the token is replayed ~10 min later."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    left = sim.rng.randint(11 * MIN, 13 * MIN)  # token lifetime remaining when the pod ends
    once = replace(TOKEN, refresh=None)
    task = pod(sim, a, s, s + HOUR - left - 2 * SEC, spec=once, policy="leave", after_end=(left - 90 * SEC,))
    w.expect_outlived(a, task, "bound token used after its pod was deleted")


def completed_pod_token_replayed(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.5)
    year = replace(TOKEN, ttl=365 * 24 * HOUR, refresh=None)
    dur = sim.rng.randint(2 * MIN, 6 * MIN)
    task = pod(sim, a, s, s + dur, spec=year, policy="leave", after_end=(40 * MIN,), rate=30)
    w.expect_outlived(a, task, "1-year token of a finished pod kept valid and used 40 min later")


def token_replayed_from_outside(w: World, a: Actor) -> None:
    a.opts["workload"] = "deployment"
    life(w.sim, a, w.onboard(a), w.horizon)
    outside = f"198.51.100.{w.sim.rng.randint(2, 254)}"  # TEST-NET-2: never a pod address
    w.replay(a, {"ip": outside}, "pod token replayed from an external address", a.opts["actions"], bound=True)


def token_used_by_other_pod(w: World, a: Actor) -> None:
    a.opts["workload"] = "deployment"
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    overrides = {"pod_uid": sim.uuid(), "ip": sim.ip(CLUSTERS[a.ident[0]["cluster"]][2])}
    w.replay(a, overrides, "token copied into another pod on the same node", a.opts["actions"], bound=True)


def _minted(w: World, a: Actor, ctx: Ctx, why: str) -> None:
    sim = w.sim
    t = w.at(0.45, 0.75)
    c = sim.issue(a.nhi, t, MINTED, ctx, None, MINTED.ttl)
    sim.use(c, t + sim.rng.randint(20 * SEC, 90 * SEC), a.opts["actions"][4])
    sim.uses([c], t + 2 * MIN, t + 40 * MIN, 8.0, a.opts["actions"])
    w.drift(a, ctx, why)


def token_minted_for_other_cluster(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    here = a.ident[0]["cluster"]
    there = sim.rng.choice([c for c in CLUSTERS if c != here])
    env, region, net = CLUSTERS[there]
    ctx = {**a.ident[0], "cluster": there, "env": env, "region": region, "ip": sim.ip(net)}
    _minted(w, a, ctx, f"token for {here} service account minted by hand and used from {there}")


def active_in_new_namespace(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    ctx = {**a.ident[0], "namespace": "kube-system", "ip": sim.ip(CLUSTERS[a.ident[0]["cluster"]][2])}
    _minted(w, a, ctx, "service account suddenly acting from namespace kube-system")


# -- look-alikes ----------------------------------------------------------------------------


def token_lapses_within_overhang(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    once = replace(TOKEN, refresh=None)
    task = w.quiet(pod(sim, a, s, s + sim.rng.randint(48, 55) * MIN, spec=once, policy="leave"))
    w.ok(
        "expires-within-overhang", a, f"pod {task.id} ended with its token unrevoked, expiring 5-12 min later"
    )


def revoked_at_pod_end(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(pod(sim, a, s, s + sim.rng.randint(5, 40) * MIN, policy="revoke"))
    w.ok("revoked-at-task-end", a, f"token revoked at the very instant pod {task.id} ended")


def last_call_within_grace(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    once = replace(TOKEN, refresh=None)
    late = sim.rng.randint(15 * SEC, 50 * SEC)
    task = w.quiet(pod(sim, a, s, s + 50 * MIN, spec=once, policy="leave", after_end=(late,)))
    w.ok("use-within-grace", a, f"last API call logged {late // SEC}s after pod {task.id} ended")


def rescheduled_pod(w: World, a: Actor) -> None:
    a.opts.update(workload="deployment", evict=True, rollout=False)
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok("rescheduled-new-node", a, "pod evicted and rescheduled on another node with a new token")


def rotating_tokens(w: World, a: Actor) -> None:
    a.opts.update(workload="deployment")
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok("token-rotation-same-pod", a, "kubelet refreshes each pod's token every 48 min on the same pod")


def replicas_on_many_nodes(w: World, a: Actor) -> None:
    a.opts.update(workload="deployment", replicas=3)
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok("replicas-different-nodes", a, "three replicas with their own tokens, nodes and pod ips")


def image_rollout(w: World, a: Actor) -> None:
    a.opts.update(workload="deployment", rollout=True)
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok(
        "image-rollout-attested", a, "deployment rolled out a new image; new pods' attested starts declare it"
    )
