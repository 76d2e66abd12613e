"""GitHub Actions workflows: one identity per repository, one task per run.

Every run gets a GITHUB_TOKEN (an installation token GitHub revokes when the job completes)
and, for each deploy step, a GitHub OIDC token (attested by GitHub, valid 10 minutes) that the
step federates into cloud credentials. The OIDC token's issuance opens every run, so the run's
context is declared by attested evidence before anything else happens.
"""

from __future__ import annotations

from synthetic.names import NamePool
from synthetic.sim import HOUR, MIN, SEC, Actor, Cred, CredSpec, Ctx, Sim, Task
from synthetic.world import World

ORG = "example-org"
GITHUB_TOKEN = CredSpec("github-app-installation-token", HOUR, None, False, "ghs-fp:", p_leave=1.0)
OIDC = CredSpec("github-oidc", 10 * MIN, None, True, "gh-oidc-jti:")


def make(sim: Sim, names: NamePool) -> Actor:
    rng = sim.rng
    repo = names.service("ci")
    images = ["ubuntu-24.04"] if rng.random() < 0.7 else ["ubuntu-22.04", "ubuntu-24.04"]
    ident = [{"env": "ci", "region": "us-east-1", "image": img} for img in images]
    opts = {
        "runs": rng.randint(3, 16),
        "rate": rng.uniform(10, 40),  # GitHub API calls per run-hour
        "actions": [
            ("contents:read", f"repo:{ORG}/{repo}"),
            ("checks:write", f"repo:{ORG}/{repo}"),
            ("packages:write", f"ghcr.io/{ORG}/{repo}"),
            ("pull_requests:write", f"repo:{ORG}/{repo}"),
        ],
        "deploy": ("sts:AssumeRoleWithWebIdentity", f"arn:aws:iam::111122223333:role/deploy-{repo}"),
    }
    return Actor(
        f"ci:github/{ORG}/{repo}", "ci", repo, "ci", names.owner(), f"CI/CD for {ORG}/{repo}", ident, opts
    )


def run(
    sim: Sim,
    a: Actor,
    start: int,
    end: int,
    *,
    image: int = 0,
    leave_token: bool = False,
    late_oidc_use: int | None = None,
) -> Task:
    """One workflow run; ``end`` is always inside the horizon (runs take minutes)."""
    rng = sim.rng
    ctx: Ctx = {**a.ident[image], "instance": f"GitHub Actions {rng.randint(1, 999)}", "ip": sim.ip("20.84")}
    task = sim.start_task(
        a.nhi, f"ci:run/{a.name}/{rng.randint(9_000_000_000, 9_999_999_999)}", start, ctx, attested=True
    )
    oidc = sim.issue(a.nhi, start + rng.randint(200, 900), OIDC, ctx, task.id, OIDC.ttl)
    token = sim.issue(a.nhi, start + rng.randint(1000, 2000), GITHUB_TOKEN, ctx, task.id, GITHUB_TOKEN.ttl)
    _federate(sim, a, oidc, end)
    sim.uses([token], token.issued, end, a.opts["rate"], a.opts["actions"])
    if late_oidc_use is not None or (end - start > 8 * MIN and rng.random() < 0.5):
        # a deploy step near the end requests its own OIDC token
        deploy = sim.issue(a.nhi, end - rng.randint(60 * SEC, 120 * SEC), OIDC, ctx, task.id, OIDC.ttl)
        _federate(sim, a, deploy, end)
    # GitHub revokes the GITHUB_TOKEN as the job completes; OIDC tokens simply lapse (<= 10 min).
    sim.end_task(task, end, "leave" if leave_token else "auto", 1.0)
    if late_oidc_use is not None:
        deploy = task.creds[-1]
        assert deploy.valid_at(end + late_oidc_use)  # still unexpired: only the task is over
        sim.use(deploy, end + late_oidc_use, a.opts["deploy"])
    return task


def _federate(sim: Sim, a: Actor, oidc: Cred, end: int) -> None:
    t = oidc.issued + sim.rng.randint(2 * SEC, 40 * SEC)
    if t < end:
        sim.use(oidc, t, a.opts["deploy"])


def life(sim: Sim, a: Actor, t0: int, t1: int) -> None:
    rng = sim.rng
    n = a.opts["runs"]
    starts = sorted(rng.randint(t0, max(t0 + 1, t1 - 30 * MIN)) for _ in range(n))
    if len(a.ident) > 1 and starts:
        starts.insert(1, starts[0] + rng.randint(5 * SEC, 30 * SEC))  # both runner images early
    for i, s in enumerate(starts):
        end = s + rng.randint(2 * MIN, 25 * MIN)
        if end >= t1:
            continue
        run(sim, a, s, end, image=i if i < len(a.ident) else rng.randrange(len(a.ident)))


def busy(sim: Sim, a: Actor, start: int, end: int) -> None:
    run(sim, a, start, end)


# -- incidents ------------------------------------------------------------------------------


def runner_crash_kept_token(w: World, a: Actor) -> None:
    """A self-hosted runner died mid-job: GitHub never saw completion, never revoked the token."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    task = run(sim, a, s, s + sim.rng.randint(4 * MIN, 15 * MIN), leave_token=True)
    w.expect_outlived(a, task, "runner crashed; GITHUB_TOKEN (1h) not revoked at job end")


def oidc_used_after_run(w: World, a: Actor) -> None:
    """A malicious post-job step federates the deploy OIDC token after the run ended."""
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.3, 0.6)
    late = sim.rng.randint(2 * MIN, 4 * MIN)
    task = run(sim, a, s, s + sim.rng.randint(10 * MIN, 20 * MIN), late_oidc_use=late)
    w.expect_outlived(a, task, f"deploy OIDC token used {late // MIN} min after the run ended")


# -- look-alikes ----------------------------------------------------------------------------


def oidc_lapses(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(run(sim, a, s, s + sim.rng.randint(3 * MIN, 9 * MIN)))
    w.ok("expires-within-overhang", a, f"run {task.id}: OIDC token left to lapse within 10 min of the end")


def token_revoked_at_completion(w: World, a: Actor) -> None:
    sim = w.sim
    life(sim, a, w.onboard(a), sim.horizon)
    s = w.at(0.2, 0.8)
    task = w.quiet(run(sim, a, s, s + sim.rng.randint(3 * MIN, 20 * MIN)))
    w.ok("revoked-at-task-end", a, f"GITHUB_TOKEN revoked as run {task.id} completed")
