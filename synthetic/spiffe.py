"""SPIFFE workloads: X.509-SVIDs from the SPIRE agent on each node, attested, 1h, rotated at 30 min.

SVIDs belong to a workload replica on a node, not to a task, so they are never judged by
token-outlived-task. Replicas on different nodes hold different SVIDs: node and ip differ
between credentials of one identity, never within one credential.
"""

from __future__ import annotations

from synthetic.k8s import CLUSTERS
from synthetic.names import SERVICES, TEAMS, NamePool
from synthetic.sim import HOUR, MIN, SEC, Actor, Cred, CredSpec, Ctx, Sim
from synthetic.world import World

TRUST_DOMAIN = "example.org"
SVID = CredSpec("spiffe-x509-svid", HOUR, 30 * MIN, True, "x509-serial:")


def make(sim: Sim, names: NamePool) -> Actor:
    rng = sim.rng
    cluster = rng.choice(list(CLUSTERS))
    env, region, _ = CLUSTERS[cluster]
    ns = names.team()
    sa = names.service(f"spiffe/{ns}")
    image = f"registry.example.org/{ns}/{sa}:4.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    peers = [
        f"spiffe://{TRUST_DOMAIN}/ns/{rng.choice(TEAMS)}/sa/{rng.choice(SERVICES)}-api" for _ in range(3)
    ]
    opts = {
        "replicas": rng.choice((1, 1, 2, 2, 3)),
        "rate": rng.uniform(1.0, 4.0),  # mTLS handshakes logged per replica-hour
        "move": rng.random() < 0.2,
        "actions": [("mtls:connect", p) for p in peers],
    }
    ident = {"cluster": cluster, "namespace": ns, "env": env, "region": region, "image": image}
    nhi = f"spiffe://{TRUST_DOMAIN}/ns/{ns}/sa/{sa}"
    return Actor(nhi, "spiffe", sa, ns, names.owner(), f"{sa} mesh workload", [ident], opts)


def node(sim: Sim, a: Actor) -> str:
    cluster = a.ident[0]["cluster"]
    return sim.pick(f"spire/{cluster}", 40, lambda: f"{cluster}-mesh-{sim.hex(5)}")


def replica(
    sim: Sim, a: Actor, start: int, stop: int, *, on: str | None = None, rate: float | None = None
) -> list[Cred]:
    ctx: Ctx = {**a.ident[0], "node": on or node(sim, a), "ip": sim.ip(CLUSTERS[a.ident[0]["cluster"]][2])}
    chain = sim.chain(a.nhi, start, stop, ctx, SVID, None)
    sim.uses(chain, start, stop, a.opts["rate"] if rate is None else rate, a.opts["actions"])
    return chain


def life(sim: Sim, a: Actor, t0: int, t1: int) -> None:
    rng = sim.rng
    for r in range(a.opts["replicas"]):
        s = t0 + r * rng.randint(1 * SEC, 30 * SEC)
        where = node(sim, a)
        if a.opts["move"] and r == 0 and t1 - s > 2 * HOUR:
            # the replica is rescheduled: the new node's SPIRE agent issues it fresh SVIDs
            cut = rng.randint(s + HOUR, t1 - HOUR)
            replica(sim, a, s, cut, on=where)
            s = cut + rng.randint(5 * SEC, 40 * SEC)
            where = _other_node(sim, a, where)
        replica(sim, a, s, t1, on=where)


def _other_node(sim: Sim, a: Actor, current: str) -> str:
    while True:
        n = node(sim, a)
        if n != current:
            return n


def busy(sim: Sim, a: Actor, start: int, end: int) -> None:
    replica(sim, a, start, end, rate=max(a.opts["rate"], 6.0))


# -- incidents ------------------------------------------------------------------------------


def svid_from_other_node(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    overrides = {"node": f"{a.ident[0]['cluster']}-mesh-{sim.hex(5)}", "ip": sim.ip("10.99")}
    w.replay(a, overrides, "SVID key material presented from another node", a.opts["actions"], bound=False)


def injected_container(w: World, a: Actor) -> None:
    """A container injected into the pod shares its network: same node and ip, foreign image."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    t, c = sim.find_live(a.nhi, w.at(0.4, 0.8), sim.horizon, bound=False)
    ctx = {**c.ctx, "image": "docker.io/xmrig/xmrig:latest"}
    sim.use(c, t, a.opts["actions"][0], ctx)
    w.drift(a, ctx, "SVID used by a container running an image the workload never ran")


# -- look-alikes ----------------------------------------------------------------------------


def replicas_on_many_nodes(w: World, a: Actor) -> None:
    a.opts.update(replicas=3)
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok("replicas-different-nodes", a, "three replicas, each with its own SVIDs, node and ip")


def moved_replica(w: World, a: Actor) -> None:
    a.opts.update(move=True)
    life(w.sim, a, w.onboard(a), w.horizon)
    w.ok("rescheduled-new-node", a, "replica moved to another node and got fresh SVIDs there")
