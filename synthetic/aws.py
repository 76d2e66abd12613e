"""AWS IAM roles: batch jobs and Lambda functions assuming roles through STS; not attested.

Batch jobs ask for 15-minute sessions and the SDK re-assumes the role every 12 minutes, so at
job end the live session always lapses within the 15-minute overhang: STS sessions can't be
revoked one by one, and well-run jobs don't need to. Lambda sandboxes hold credentials for the
sandbox's life, not per invocation, so those credentials are not bound to the invocation tasks.
"""

from __future__ import annotations

from dataclasses import replace

from synthetic.names import NamePool
from synthetic.sim import HOUR, MIN, SEC, Actor, Cred, CredSpec, Ctx, EndPolicy, Sim, Task
from synthetic.world import World

ACCOUNTS = {"prod": "111122223333", "staging": "444455556666", "data": "777788889999"}
REGIONS = {"prod": ("us-east-1", "eu-west-1"), "staging": ("eu-west-1",), "data": ("us-east-1", "us-west-2")}
ALL_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "sa-east-1")
AGENTS = ("aws-sdk-go-v2/1.30.3 os/linux", "Boto3/1.34.120 Python/3.11.9", "aws-sdk-java/2.25.60 Linux")

REFRESH = 12 * MIN
ASSUME = CredSpec("sts-assume-role", 15 * MIN, REFRESH, False, "ASIA", p_leave=1.0)
WEB_IDENTITY = CredSpec("sts-assume-role-web-identity", 15 * MIN, REFRESH, False, "ASIA", p_leave=1.0)
SANDBOX = CredSpec("sts-assume-role", HOUR, 50 * MIN, False, "ASIA")


def make(sim: Sim, names: NamePool) -> Actor:
    rng = sim.rng
    env = rng.choices(("prod", "staging", "data"), (0.6, 0.2, 0.2))[0]
    acct = ACCOUNTS[env]
    name = names.service(f"aws/{acct}")
    region = rng.choice(REGIONS[env])
    bucket = f"example-{env}-{name}"
    opts = {
        "subtype": rng.choices(("instance", "web-identity", "lambda"), (0.4, 0.3, 0.3))[0],
        "period": rng.choice((1, 2, 3, 4, 6)) * HOUR,
        "rate": rng.uniform(8, 30),  # API calls per hour while a job runs
        "invocations": rng.uniform(1, 4),  # Lambda invocations per hour
        "ua": rng.choice(AGENTS),
        "acct": acct,
        "actions": [
            ("s3:GetObject", f"arn:aws:s3:::{bucket}/input/"),
            ("s3:PutObject", f"arn:aws:s3:::{bucket}/output/"),
            ("dynamodb:Query", f"arn:aws:dynamodb:{region}:{acct}:table/{name}"),
            ("sqs:ReceiveMessage", f"arn:aws:sqs:{region}:{acct}:{name}-queue"),
            ("kms:Decrypt", f"arn:aws:kms:{region}:{acct}:alias/{name}"),
        ],
    }
    purpose = f"{name} ({opts['subtype']}) in {env}"
    owner = names.owner()
    return Actor(
        f"aws:{acct}:role/{name}", "aws", name, env, owner, purpose, [{"env": env, "region": region}], opts
    )


def add_region(a: Actor, region: str) -> None:
    a.ident.append({**a.ident[0], "region": region})
    a.declare("region", region)


def job(
    sim: Sim,
    a: Actor,
    r: int,
    start: int,
    end: int | None,
    *,
    spec: CredSpec | None = None,
    policy: EndPolicy = "auto",
    after_end: tuple[int, ...] = (),
) -> Task:
    ctx: Ctx = {**a.ident[r], "ip": sim.ip("10.60"), "user_agent": a.opts["ua"]}
    if a.opts["subtype"] == "instance":
        ctx["instance"] = f"i-0{sim.hex(16)}"
    if spec is None:
        spec = ASSUME if a.opts["subtype"] == "instance" else WEB_IDENTITY
    task_id = f"job:{a.opts['acct']}/{a.name}/{sim.hex(12)}"
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


def life(sim: Sim, a: Actor, t0: int, t1: int) -> None:
    if a.opts["subtype"] == "lambda":
        for r in range(len(a.ident)):
            _lambda(sim, a, r, t0 + r * sim.rng.randint(2 * SEC, 5 * SEC), t1)
        return
    rng = sim.rng
    for r in range(len(a.ident)):
        # Every region's first run starts together, so a multi-region role shows all its regions
        # in its first handful of events (inside any learning window).
        t = t0 + r * rng.randint(2 * SEC, 6 * SEC)
        while t < t1 - MIN:  # a run starting in the last minute would be issued past the horizon
            end = t + rng.randint(3 * MIN, 40 * MIN)
            if end >= t1 and t1 < sim.horizon:
                break
            job(sim, a, r, t, end)
            t += a.opts["period"] + rng.randint(-2 * MIN, 2 * MIN)


def _lambda(sim: Sim, a: Actor, r: int, t0: int, t1: int) -> None:
    rng = sim.rng
    acts = a.opts["actions"]
    t = t0
    while t < t1:
        stop = min(t1, t + rng.randint(30 * MIN, 150 * MIN))
        ctx: Ctx = {**a.ident[r], "ip": sim.ip("10.61"), "user_agent": a.opts["ua"]}
        chain = sim.chain(a.nhi, t, stop, ctx, SANDBOX, None)
        u = t + int(rng.expovariate(1.0) * HOUR / a.opts["invocations"])
        while u < stop - 30 * SEC:
            dur = rng.randint(100, 15 * SEC)
            task = sim.start_task(a.nhi, f"lambda:{a.name}/{sim.uuid()}", u, dict(a.ident[r]))
            for k in range(rng.randint(1, 3)):
                when = u + 20 + k * dur // 4
                _newest(chain, when, sim, acts[rng.randrange(len(acts))])
            sim.end_task(task, u + dur, "auto", 0.0)
            u += dur + int(rng.expovariate(1.0) * HOUR / a.opts["invocations"])
        t = stop + rng.randint(1 * SEC, 5 * MIN)


def _newest(chain: list[Cred], t: int, sim: Sim, action: tuple[str, str]) -> None:
    for c in reversed(chain):
        if c.valid_at(t):
            sim.use(c, t, action)
            return


def busy(sim: Sim, a: Actor, start: int, end: int) -> None:
    job(sim, a, 0, start, end)


# -- incidents ------------------------------------------------------------------------------


def twelve_hour_session(w: World, a: Actor) -> None:
    """A job asked STS for a 12-hour session (DurationSeconds=43200) and ran for 20 minutes."""
    sim = w.sim
    a.opts["subtype"] = "instance"
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    long = replace(ASSUME, ttl=12 * HOUR, refresh=None)
    task = job(sim, a, 0, s, s + sim.rng.randint(10 * MIN, 30 * MIN), spec=long, policy="leave")
    w.expect_outlived(a, task, "12h STS session outlives its 20-minute job")


def session_used_after_job(w: World, a: Actor) -> None:
    """Leaked 15-minute session keys used 5 min after the job finished (still unexpired)."""
    sim = w.sim
    a.opts["subtype"] = "web-identity"
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    # End 1-2.5 min after the second refresh: the newest session then has ~13 min left.
    end = s + 2 * REFRESH + sim.rng.randint(75 * SEC, 150 * SEC)
    task = job(sim, a, 0, s, end, policy="leave", after_end=(5 * MIN,))
    w.expect_outlived(a, task, "STS session keys used 5 min after their job ended")


def keys_used_from_other_instance(w: World, a: Actor) -> None:
    sim = w.sim
    a.opts.update(subtype="instance", period=HOUR)
    life(sim, a, w.onboard(a), sim.horizon)
    overrides = {"instance": f"i-0{sim.hex(16)}", "ip": sim.ip("10.62")}
    w.replay(
        a,
        overrides,
        "instance-profile session keys used from another instance",
        a.opts["actions"],
        bound=True,
    )


def used_in_new_region(w: World, a: Actor) -> None:
    """A role that has only ever run in its region suddenly calls another region's APIs."""
    sim = w.sim
    a.opts.update(subtype="instance", period=HOUR, rate=max(a.opts["rate"], 30.0))
    life(sim, a, w.onboard(a), sim.horizon)
    # Late in the day: long past the first events, whatever learning window the engine uses.
    t, c = sim.find_live(a.nhi, w.at(0.6, 0.8), sim.horizon, bound=True)
    new = sim.rng.choice([r for r in ALL_REGIONS if r not in a.declared["region"]])
    ctx = {**c.ctx, "region": new}  # same instance and ip: the caller is where it always was
    sim.use(c, t, ("ec2:RunInstances", f"arn:aws:ec2:{new}:{a.opts['acct']}:instance/*"), ctx)
    w.drift(a, ctx, f"role used in region {new} for the first time (ec2:RunInstances)")


# -- look-alikes ----------------------------------------------------------------------------


def sessions_lapse(w: World, a: Actor) -> None:
    sim = w.sim
    a.opts["subtype"] = "web-identity"
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(job(sim, a, 0, s, s + sim.rng.randint(5 * MIN, 30 * MIN)))
    w.ok("expires-within-overhang", a, f"job {task.id}: 15-min STS sessions left to expire, never revoked")


def last_call_within_grace(w: World, a: Actor) -> None:
    sim = w.sim
    a.opts["subtype"] = "instance"
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    late = sim.rng.randint(10 * SEC, 55 * SEC)
    task = w.quiet(
        job(sim, a, 0, s, s + sim.rng.randint(5 * MIN, 30 * MIN), policy="leave", after_end=(late,))
    )
    w.ok("use-within-grace", a, f"S3 upload logged {late // SEC}s after job {task.id} ended")


def two_regions(w: World, a: Actor) -> None:
    sim = w.sim
    a.opts["subtype"] = sim.rng.choice(("instance", "web-identity"))
    add_region(a, sim.rng.choice([r for r in ALL_REGIONS if r not in a.declared["region"]]))
    life(sim, a, w.onboard(a), sim.horizon)
    regions = ", ".join(sorted(a.declared["region"]))
    w.ok("learning-phase-variety", a, f"job deployed in {regions} from its first run")
