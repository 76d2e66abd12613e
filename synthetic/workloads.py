"""EC2 instance profiles: credentials the platform delivers to an instance, and their theft.

An instance's role credentials are delivered by the platform (``attrs.session_kind = "workload"``)
and used all day from the instance: the SSM agent, the CloudWatch agent and the application, each
with its own SDK, all on Linux, from the instance's private address or the organisation's elastic
IP. The stories read them out of the instance (an SSRF, an SSM command) and use them elsewhere, the
way the public write-ups of the attack describe; each is built so that exactly one of context
drift's workload signals is true (``streams/detectors/workload.py``).

The organisation's own networks (``OWN_NETWORKS``: its office egress and its elastic IPs) are part
of what it is; a run that wants the "outside every network" story judged passes them in
``NHI_OWN_NETWORKS`` (``nhi demo`` does).
"""

from __future__ import annotations

from synthetic.aws import ACCOUNTS
from synthetic.model import CONTEXT_DRIFT
from synthetic.sim import HOUR, MIN, SEC, Actor, Cred, CredSpec, Ctx
from synthetic.world import World

OFFICE, ELASTIC = "81.2.69", "52.94.76"
OWN_NETWORKS = f"{OFFICE}.0/24,{ELASTIC}.0/24"
INSTANCE_PROFILE = CredSpec("sts-assume-role", 6 * HOUR, None, True, "ASIA")
WORKLOAD = {"session_kind": "workload"}

SSM_AGENT = "aws-sdk-go/1.44.260 (go1.20.11; linux; amd64) amazon-ssm-agent/3.2.2016.0"
CW_AGENT = "aws-sdk-go/1.48.6 (go1.21.5; linux; amd64) CWAgent/1.300032.3b392"
APP = "aws-sdk-java/2.25.60 Linux/5.10.217-205.860.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11"
LINUX_LAPTOP = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-27-generic exe/x86_64.ubuntu.22 prompt/off"
ATTACKER_SDK = "aws-sdk-java/2.25.60 Linux/6.1.0-18-amd64 OpenJDK_64-Bit_Server_VM/17.0.11"
WINDOWS_CLI = "aws-cli/2.15.30 Python/3.11.8 Windows/10 exe/AMD64 prompt/off"
# An address of a hosting provider that publishes no ranges we load: outside every known network.
FOREIGN = "185.220.101"


def _instance_day(w: World, a: Actor, address: str, *, until: int | None = None) -> tuple[int, Cred]:
    """Register ``a``, deliver its instance profile and use it from the instance all day (or until
    ``until``): the agents and the application, Linux SDKs of their own, on their own address."""
    sim = w.sim
    start = w.onboard(a)
    instance = f"i-0{sim.hex(16)}"
    ctx: Ctx = {**a.ident[0], "instance": instance}
    cred = sim.issue(a.nhi, start, INSTANCE_PROFILE, ctx, None, INSTANCE_PROFILE.ttl, attrs=WORKLOAD)
    end = min(until or sim.horizon, cred.expires or sim.horizon) - MIN
    t = start + sim.rng.randint(10 * SEC, 60 * SEC)
    agents = (SSM_AGENT, CW_AGENT, APP)
    actions = a.opts["actions"]
    while t < end:
        agent = sim.rng.choice(agents)
        sim.use(cred, t, sim.rng.choice(actions), {**ctx, "ip": address, "user_agent": agent}, attrs=WORKLOAD)
        t += sim.rng.randint(2 * MIN, 9 * MIN)
    return start, cred


def _stolen_use(w: World, a: Actor, cred: Cred, t: int, ip: str, agent: str) -> None:
    ctx = {**cred.ctx, "ip": ip, "user_agent": agent}
    w.sim.use(cred, t, ("sts:GetCallerIdentity", "*"), ctx, outcome="success", attrs=WORKLOAD)
    w.sim.use(cred, t + 20 * SEC, ("ec2:DescribeInstances", "*"), ctx, outcome="success", attrs=WORKLOAD)


def _profile(a: Actor) -> None:
    a.opts.update(subtype="instance")


def stolen_into_operators_seat(w: World, a: Actor) -> None:
    """An operator runs an SSM command that prints the instance's credentials, then uses them from
    the laptop they were just working on, with the same CLI."""
    sim = w.sim
    _profile(a)
    _, cred = _instance_day(w, a, sim.ip("10.63"))
    t = min(w.at(0.5, 0.7), (cred.expires or sim.horizon) - 30 * MIN)
    seat = f"{OFFICE}.{sim.rng.randint(2, 254)}"
    operator = f"aws:{ACCOUNTS['prod']}:user/ops-{sim.hex(4)}"
    person = {"principal_kind": "human", "kind_evidence": "console sign-in", "session_kind": "person"}
    sim.emit(
        t - 4 * MIN,
        "credential.used",
        {
            "nhi": operator,
            "credential": sim.cred_id("AKIA"),
            "action": "ssm:SendCommand",
            "resource": cred.ctx.get("instance", "*"),
            "outcome": "success",
            "context": {"ip": seat, "user_agent": LINUX_LAPTOP},
            "attrs": person,
        },
    )
    _stolen_use(w, a, cred, t, seat, LINUX_LAPTOP)
    w.expect(
        CONTEXT_DRIFT,
        a,
        f"{cred.id}:credential-in-others-seat",
        "instance credentials used from the seat of the operator who read them",
    )


def stolen_outside_networks(w: World, a: Actor) -> None:
    """Credentials read through an SSRF and used from a host outside every known network, with the
    same SDK the application uses (so only the address gives it away)."""
    sim = w.sim
    _profile(a)
    _, cred = _instance_day(w, a, sim.ip("10.63"))
    t = min(w.at(0.4, 0.7), (cred.expires or sim.horizon) - 30 * MIN)
    _stolen_use(w, a, cred, t, f"{FOREIGN}.{sim.rng.randint(2, 254)}", ATTACKER_SDK)
    w.expect(
        CONTEXT_DRIFT,
        a,
        f"{cred.id}:credential-outside-networks",
        "instance credentials used from outside every known network",
    )


def stolen_to_another_platform(w: World, a: Actor) -> None:
    """Credentials copied to a Windows workstation on the VPN (an inside address)."""
    sim = w.sim
    _profile(a)
    _, cred = _instance_day(w, a, sim.ip("10.63"))
    t = min(w.at(0.4, 0.7), (cred.expires or sim.horizon) - 30 * MIN)
    _stolen_use(w, a, cred, t, sim.ip("10.8"), WINDOWS_CLI)
    w.expect(
        CONTEXT_DRIFT,
        a,
        f"{cred.id}:credential-new-platform",
        "instance credentials used from a Windows workstation",
    )


def stolen_to_another_instance(w: World, a: Actor) -> None:
    """Credentials of an instance behind an elastic IP used from another of the organisation's
    elastic IPs (a second compromised instance): same platform, own network, other address."""
    sim = w.sim
    _profile(a)
    home = f"{ELASTIC}.{sim.rng.randint(2, 120)}"
    _, cred = _instance_day(w, a, home)
    t = min(w.at(0.4, 0.7), (cred.expires or sim.horizon) - 30 * MIN)
    _stolen_use(w, a, cred, t, f"{ELASTIC}.{sim.rng.randint(121, 254)}", ATTACKER_SDK)
    w.expect(
        CONTEXT_DRIFT,
        a,
        f"{cred.id}:credential-off-known-address",
        "instance credentials used from another instance's address",
    )


# -- look-alikes ----------------------------------------------------------------------------


def agents_on_own_addresses(w: World, a: Actor) -> None:
    """The SSM agent reaches a VPC endpoint (private address), the application the public endpoints
    through the elastic IP: two addresses and three SDKs, one instance."""
    sim = w.sim
    _profile(a)
    home = f"{ELASTIC}.{sim.rng.randint(2, 254)}"
    start, cred = _instance_day(w, a, home)
    private = sim.ip("10.63")
    t = start + 5 * MIN
    while t < (cred.expires or sim.horizon) - 2 * MIN and t < sim.horizon - 2 * MIN:
        ctx = {**cred.ctx, "ip": private, "user_agent": SSM_AGENT}
        sim.use(cred, t, ("ssm:UpdateInstanceInformation", "*"), ctx, attrs=WORKLOAD)
        t += sim.rng.randint(5 * MIN, 15 * MIN)
    w.ok(
        "instance-agents-on-own-addresses",
        a,
        "SSM agent, CloudWatch agent and the app on the instance's addresses",
    )
