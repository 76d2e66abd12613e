"""The event buffer and the task/credential primitives every workload kind is built from.

Times are integer milliseconds from the start of the simulated day: ground truth depends on
exact comparisons ("revoked at the very instant the task ends", "expires within the overhang"),
which integer arithmetic keeps exact and floats would not.

The primitives also keep a registry of every task and credential they emit, so stories can
inject an incident into activity that already exists (a replay of a credential that is live at
that moment) and derive the expected finding keys from what was actually generated.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from contract.events import TYPE_ORDER
from contract.settings import Settings
from synthetic.clock import Clock

SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN

# The ground truth follows the engine's default thresholds; reading them from Settings keeps
# the two from silently diverging if a default changes.
_DEFAULTS = Settings()
OVERHANG = int(_DEFAULTS.max_overhang_s * SEC)
GRACE = int(_DEFAULTS.grace_s * SEC)
LEARN_EVENTS = _DEFAULTS.learn_events

# Out-of-order delivery: this share of records arrives late, by at most MAX_LATE. Both sit well
# inside the engine's default reorder window (300 s), so ordering is exercised, never broken.
LATE_FRACTION = 0.02
MAX_LATE = 90 * SEC

FAILURE_RATE = 0.015  # share of uses that are denied: normal noise, not a signal

Ctx = dict[str, str]
IDENTITY_ATTRS = ("cluster", "namespace", "env", "region", "image")
CREDENTIAL_ATTRS = ("pod_uid", "node", "instance", "ip")
Action = tuple[str, str]
EndPolicy = Literal["auto", "revoke", "revoke-early", "leave"]


@dataclass(slots=True)
class Cred:
    id: str
    nhi: str
    task: str | None
    issued: int
    expires: int | None
    ctx: Ctx
    revoked: int | None = None
    uses: list[int] = field(default_factory=list)

    def valid_at(self, t: int) -> bool:
        return (
            self.issued <= t
            and (self.expires is None or t < self.expires)
            and (self.revoked is None or t < self.revoked)
        )


@dataclass(slots=True)
class Task:
    id: str
    nhi: str
    start: int
    end: int | None
    ctx: Ctx
    creds: list[Cred] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CredSpec:
    method: str
    ttl: int | None  # ms; None = never expires
    refresh: int | None  # re-issue period while in use; None = one credential
    attested: bool
    prefix: str  # credential ids look like the real thing: ASIA..., hmac-sha256:..., jti:...
    p_leave: float = 0.0  # "auto" end policy: chance to let a soon-expiring credential lapse


@dataclass(slots=True)
class Actor:
    """One NHI of the organisation and how it behaves."""

    nhi: str
    kind: str
    name: str
    team: str
    owner: str | None
    purpose: str
    ident: list[Ctx]  # identity-level context per deployment (e.g. per region); [0] is primary
    opts: dict[str, Any]  # kind-specific knobs (workload shape, rates, actions)
    declared: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ctx in self.ident:
            for attr, value in ctx.items():
                self.declare(attr, value)

    def declare(self, attr: str, value: str) -> None:
        """Record an identity-level value this NHI legitimately shows (its baseline)."""
        self.declared.setdefault(attr, set()).add(value)

    def drift_keys(self, ctx: Ctx) -> list[str]:
        """The identity-level ``attr=value`` keys ``ctx`` has outside this NHI's baseline."""
        return [
            f"{a}={ctx[a]}" for a in IDENTITY_ATTRS if a in ctx and ctx[a] not in self.declared.get(a, set())
        ]


class Sim:
    def __init__(self, seed: int, horizon: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.horizon = horizon
        self._events: list[tuple[int, int, int, dict[str, Any]]] = []
        self.creds: dict[str, list[Cred]] = {}
        self.tasks: dict[str, Task] = {}
        self.late = 0
        self.max_late = 0
        self._pools: dict[str, list[str]] = {}

    # -- identifiers ------------------------------------------------------------------------

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        h = self.hex(32)
        variant = "89ab"[int(h[16], 16) & 3]  # RFC 4122 version 4, variant 1
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"

    def cred_id(self, prefix: str) -> str:
        rng = self.rng
        if prefix == "ASIA":  # STS temporary access key ids: ASIA + 16 base32 characters
            return "ASIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        if prefix == "hmac-sha256:":  # Vault audit logs HMAC the token accessor
            return prefix + self.hex(64)
        return prefix + self.hex(24)

    def ip(self, prefix: str) -> str:
        return f"{prefix}.{self.rng.randint(0, 255)}.{self.rng.randint(2, 254)}"

    def pick(self, pool: str, size: int, make: Callable[[], str]) -> str:
        """A member of a lazily built named pool (the nodes of a cluster, say), so workloads
        share nodes the way they do in a real cluster instead of each getting a fresh one."""
        members = self._pools.get(pool)
        if members is None:
            members = self._pools[pool] = [make() for _ in range(size)]
        return self.rng.choice(members)

    # -- raw events -------------------------------------------------------------------------

    def emit(self, t: int, etype: str, fields: dict[str, Any]) -> None:
        fields["type"] = etype
        self._events.append((t, TYPE_ORDER[etype], len(self._events), fields))

    def issue(
        self,
        nhi: str,
        t: int,
        spec: CredSpec,
        ctx: Ctx,
        task: str | None,
        ttl: int | None,
        *,
        attrs: dict[str, Any] | None = None,
    ) -> Cred:
        c = Cred(self.cred_id(spec.prefix), nhi, task, t, None if ttl is None else t + ttl, ctx)
        f: dict[str, Any] = {"nhi": nhi, "credential": c.id, "method": spec.method, "attested": spec.attested}
        if attrs:
            f["attrs"] = dict(attrs)
        if task is not None:
            f["task"] = task
            self.tasks[task].creds.append(c)
        if c.expires is not None:
            f["expires_at"] = c.expires  # formatted in finalize
        f["context"] = ctx
        self.emit(t, "credential.issued", f)
        self.creds.setdefault(nhi, []).append(c)
        return c

    def use(
        self,
        c: Cred,
        t: int,
        action: Action,
        ctx: Ctx | None = None,
        outcome: str | None = None,
        *,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        f: dict[str, Any] = {"nhi": c.nhi, "credential": c.id}
        if attrs:
            f["attrs"] = dict(attrs)
        if c.task is not None:
            f["task"] = c.task  # a bound credential names its task on use, as the engine expects
        f["action"], f["resource"] = action
        f["outcome"] = outcome or ("failure" if self.rng.random() < FAILURE_RATE else "success")
        f["context"] = c.ctx if ctx is None else ctx
        c.uses.append(t)
        self.emit(t, "credential.used", f)

    def revoke(self, c: Cred, t: int) -> None:
        c.revoked = t
        self.emit(t, "credential.revoked", {"nhi": c.nhi, "credential": c.id})

    def start_task(self, nhi: str, task_id: str, t: int, ctx: Ctx, *, attested: bool = False) -> Task:
        task = Task(task_id, nhi, t, None, ctx)
        self.tasks[task_id] = task
        f: dict[str, Any] = {"nhi": nhi, "task": task_id, "context": ctx}
        if attested:  # the orchestrator itself reports the start (k8s API server, GitHub)
            f["attested"] = True
        self.emit(t, "task.started", f)
        return task

    def end_task(
        self, task: Task, t: int, policy: EndPolicy, p_leave: float, revoke_at: int | None = None
    ) -> None:
        """End a task, first revoking or letting lapse each bound credential still live.

        ``auto`` is the well-behaved default: a credential that would outlive the task by more
        than the overhang is always revoked, so normal traffic never produces a finding.
        """
        for c in task.creds:
            if c.revoked is not None or (c.expires is not None and c.expires <= t):
                continue
            if policy == "leave":
                continue
            lapses = c.expires is not None and c.expires <= t + OVERHANG - 5 * SEC
            if policy == "auto" and lapses and self.rng.random() < p_leave:
                continue
            self.revoke(c, t if revoke_at is None else revoke_at)
        task.end = t
        self.emit(t, "task.ended", {"nhi": task.nhi, "task": task.id})

    # -- composite activity -----------------------------------------------------------------

    def chain(
        self, nhi: str, first: int, stop: int, ctx: Ctx, spec: CredSpec, task: str | None
    ) -> list[Cred]:
        """One credential at ``first``, then a fresh one every ``refresh`` while before ``stop``."""
        out = [self.issue(nhi, first, spec, ctx, task, spec.ttl)]
        if spec.refresh is not None:
            t = first + spec.refresh
            while t < stop - 10 * SEC and t < self.horizon:
                out.append(self.issue(nhi, t, spec, ctx, task, spec.ttl))
                t += spec.refresh
        return out

    def uses(self, chain: Sequence[Cred], a: int, b: int, rate: float, actions: Sequence[Action]) -> None:
        """Poisson uses in (a, b) at ``rate`` per hour, each by the newest credential issued."""
        b = min(b, self.horizon)
        if rate <= 0 or b <= a or not chain:
            return
        rng = self.rng
        mean = HOUR / rate
        issued = [c.issued for c in chain]
        n = len(actions)
        t = a + int(rng.expovariate(1.0) * mean) + 1
        while t < b:
            i = bisect_right(issued, t) - 1
            if i >= 0 and chain[i].valid_at(t):
                self.use(chain[i], t, actions[int(rng.random() * n)])
            t += int(rng.expovariate(1.0) * mean) + 1

    def run_task(
        self,
        nhi: str,
        task_id: str,
        start: int,
        end: int | None,
        ctx: Ctx,
        spec: CredSpec,
        rate: float,
        actions: Sequence[Action],
        *,
        policy: EndPolicy = "auto",
        attested_start: bool = False,
        after_end: Sequence[int] = (),
    ) -> Task:
        """A task with its bound credential chain and uses; ``end`` past the horizon = still running."""
        ends = end is not None and end < self.horizon
        stop = end if end is not None and ends else self.horizon
        task = self.start_task(nhi, task_id, start, ctx, attested=attested_start)
        first = start + self.rng.randint(50, 1500)  # the credential follows the start it was issued for
        cut = stop
        if ends and policy == "revoke-early":
            # revoked by a pre-stop hook / logout shortly before the end; nothing is used after
            cut = max(first + 2 * SEC, stop - self.rng.randint(5 * SEC, 60 * SEC))
        chain = self.chain(nhi, first, cut, ctx, spec, task_id)
        self.uses(chain, first, cut, rate, actions)
        if ends:
            self.end_task(
                task, stop, policy, spec.p_leave, revoke_at=cut if policy == "revoke-early" else None
            )
            for d in after_end:
                c = chain[-1]
                if not c.valid_at(stop + d):
                    raise AssertionError(f"after-end use of {c.id} would not be valid")  # a story bug
                self.use(c, stop + d, actions[self.rng.randrange(len(actions))])
        return task

    # -- looking back at what was generated ---------------------------------------------------

    @staticmethod
    def outlived(task: Task) -> list[str]:
        """The token-outlived-task keys ``task`` earns, by the engine's rules, from what was
        actually generated; stories use it both to state truth and to prove a look-alike benign."""
        keys: list[str] = []
        if task.end is None:
            return keys
        end = task.end
        for c in task.creds:
            revoked = c.revoked is not None and c.revoked <= end
            lapses = c.expires is not None and c.expires <= end + OVERHANG
            if not revoked and not lapses:
                keys.append(c.id)
            if any(u > end + GRACE for u in c.uses):
                keys.append(f"{c.id}:used-after-end")
        return keys

    def find_live(
        self, nhi: str, lo: int, hi: int, *, bound: bool | None = None, margin: int = 2 * MIN
    ) -> tuple[int, Cred]:
        """The earliest moment in [lo, hi) when a credential of ``nhi`` is usable, and stays so
        (with its task still running, if it has one) for ``margin``; the newest such credential."""
        best: tuple[int, int] | None = None
        found: Cred | None = None
        for c in self.creds.get(nhi, []):
            if bound is not None and (c.task is not None) != bound:
                continue
            begin = max(lo, c.issued + 5 * SEC)
            ends = [self.horizon - 5 * MIN, hi + margin]
            ends += [x for x in (c.expires, c.revoked) if x is not None]
            if c.task is not None:
                task = self.tasks[c.task]
                begin = max(begin, task.start)
                if task.end is not None:
                    ends.append(task.end)
            if begin + margin < min(ends) and (best is None or (begin, -c.issued) < best):
                best, found = (begin, -c.issued), c
        if best is None or found is None:
            raise LookupError(f"{nhi}: no live credential between {lo} and {hi}")  # a story bug
        return best[0], found

    # -- output -----------------------------------------------------------------------------

    def finalize(self, start: datetime) -> list[dict[str, Any]]:
        """Sort, assign ids, apply bounded disorder and format times as RFC 3339 ``...Z``."""
        events = sorted(self._events)  # (time, type order, seq): seq is unique, dicts never compared
        if events and events[-1][0] > self.horizon:
            raise AssertionError("an event was generated past the horizon")  # a generator bug
        rng = self.rng
        width = max(6, len(str(len(events))))
        # Ids follow event-time order, so the engine's (time, type, id) tie-break agrees with the
        # order the generator intended for events sharing a millisecond.
        keyed: list[tuple[int, int, int, dict[str, Any]]] = []
        for i, (t, _order, _seq, f) in enumerate(events):
            f["id"] = f"syn{self.seed}-{i:0{width}d}"
            arrival = t
            if rng.random() < LATE_FRACTION:
                arrival = t + rng.randint(5 * SEC, MAX_LATE)
            keyed.append((arrival, i, t, f))
        keyed.sort()  # (arrival, index): the index is unique
        fmt = Clock(start)

        out: list[dict[str, Any]] = []
        newest = -1
        for _arrival, _i, t, f in keyed:
            if t < newest:
                self.late += 1
                self.max_late = max(self.max_late, newest - t)
            newest = max(newest, t)
            rec: dict[str, Any] = {"id": f.pop("id"), "type": f.pop("type"), "time": fmt(t)}
            for k, v in f.items():
                if k == "expires_at":
                    rec[k] = fmt(v)
                elif k == "context":
                    rec[k] = dict(v)  # each record owns its context: callers may mutate records
                else:
                    rec[k] = v
            out.append(rec)
        return out
