"""The organisation being built: identity lifecycle events, the HR feed and the ground truth.

Kinds (k8s, aws, ...) only know how workloads behave; everything about who owns an identity,
when it is registered, updated or deleted, and what the engine is expected to find lives here.
"""

from __future__ import annotations

from collections.abc import Sequence

from synthetic.model import CONTEXT_DRIFT, TOKEN_OUTLIVED_TASK, Benign, Expected
from synthetic.names import NamePool
from synthetic.sim import CREDENTIAL_ATTRS, MIN, SEC, Action, Actor, Ctx, Sim, Task

_KEEP = object()  # sentinel: "register with the actor's own owner"


class World:
    def __init__(self, sim: Sim, names: NamePool) -> None:
        self.sim = sim
        self.names = names
        self.truth: list[Expected] = []
        self.benign: list[Benign] = []

    @property
    def horizon(self) -> int:
        return self.sim.horizon

    def at(self, lo: float, hi: float) -> int:
        """A random time between two fractions of the simulated period."""
        h = self.sim.horizon
        return self.sim.rng.randint(int(lo * h), int(hi * h))

    # -- identity lifecycle -------------------------------------------------------------------

    def register(self, a: Actor, t: int, *, owner: object = _KEEP) -> None:
        own = a.owner if owner is _KEEP else owner
        assert own is None or isinstance(own, str)
        fields: dict[str, object] = {"nhi": a.nhi, "purpose": a.purpose}
        if own is not None:
            fields["owner"] = own
        self.sim.emit(t, "identity.registered", fields)

    def onboard(self, a: Actor, *, owner: object = _KEEP, late_ok: bool = False) -> int:
        """Register ``a`` and return when its activity may start.

        Most identities come from the inventory sync in the first two minutes; some are created
        during the day. Activity always starts a while after registration, so a well-behaved
        identity never issues or uses a credential before its owner is on record.
        """
        rng = self.sim.rng
        if late_ok and rng.random() < 0.12:
            t = self.at(0.1, 0.6)
            self.register(a, t, owner=owner)
            return t + rng.randint(30 * SEC, 10 * MIN)
        t = rng.randint(0, 120 * SEC)
        self.register(a, t, owner=owner)
        return t + rng.randint(60 * SEC, 20 * MIN)

    def update(self, a: Actor, t: int, owner: str) -> None:
        # Always name the owner: an update is a full statement of who is accountable.
        a.owner = owner
        self.sim.emit(t, "identity.updated", {"nhi": a.nhi, "owner": owner, "purpose": a.purpose})

    def delete(self, a: Actor, t: int) -> None:
        self.sim.emit(t, "identity.deleted", {"nhi": a.nhi})

    def depart(self, owner: str, t: int) -> None:
        """An HR leavers-feed record: it names a person, never an NHI."""
        self.sim.emit(t, "owner.departed", {"owner": owner})

    # -- ground truth -------------------------------------------------------------------------

    def expect(self, detector: str, a: Actor, key: str, description: str) -> None:
        self.truth.append(Expected(detector, a.nhi, key, description))

    def ok(self, kind: str, a: Actor, description: str) -> None:
        self.benign.append(Benign(kind, a.nhi, description))

    def expect_outlived(self, a: Actor, task: Task, why: str) -> None:
        """State the token-outlived-task truth of a story task from what was generated."""
        keys = self.sim.outlived(task)
        assert keys, f"{task.id}: the story expected a finding"  # a story bug, not bad input
        for key in keys:
            self.expect(TOKEN_OUTLIVED_TASK, a, key, f"{why} (task {task.id})")

    def quiet(self, task: Task) -> Task:
        """Check that a look-alike task really earns no token-outlived-task finding."""
        assert not self.sim.outlived(task), f"{task.id}: a look-alike must not be a finding"
        return task

    def replay(
        self, a: Actor, overrides: Ctx, why: str, actions: Sequence[Action], *, bound: bool | None
    ) -> None:
        """Use a credential that is live at some moment from another pod/node/instance/ip."""
        sim = self.sim
        t, c = sim.find_live(a.nhi, self.at(0.3, 0.7), sim.horizon, bound=bound)
        ctx = {**c.ctx, **overrides}
        sim.use(c, t, actions[0], ctx)
        for attr, value in overrides.items():
            # Both sides carry the attribute, so the difference holds however absent values are read.
            assert attr in CREDENTIAL_ATTRS and attr in c.ctx and c.ctx[attr] != value
            self.expect(CONTEXT_DRIFT, a, f"{c.id}:{attr}", f"{why}: {attr} {c.ctx[attr]} -> {value}")

    def drift(self, a: Actor, ctx: Ctx, why: str) -> None:
        keys = a.drift_keys(ctx)
        assert keys, f"{a.nhi}: the story expected identity-level drift"
        for key in keys:
            self.expect(CONTEXT_DRIFT, a, key, why)
