"""``generate``: assemble the organisation from kinds, stories and ordinary identities."""

from __future__ import annotations

import gc
from collections import Counter
from datetime import UTC, datetime

from synthetic.model import DETECTORS, SyntheticOrg
from synthetic.names import NamePool
from synthetic.sim import HOUR, MAX_LATE, Actor, Sim
from synthetic.stories import INCIDENTS, KINDS, LOOK_ALIKES, normal
from synthetic.workloads import OWN_NETWORKS
from synthetic.world import World

DEFAULT_START = datetime(2026, 5, 4, tzinfo=UTC)
MIN_HOURS = 6.0  # stories place incidents at fractions of the day; shorter days squeeze them out
PER_CATALOGUE = 400  # identities per pass of the story catalogue
SPARE = 3  # ordinary identities each kind keeps at least, so every kind has normal traffic


def _apportion(identities: int) -> dict[str, int]:
    """Split ``identities`` across kinds by share, largest remainders first (sums exactly)."""
    raw = {k: kind.share * identities for k, kind in KINDS.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[: identities - sum(counts.values())]:
        counts[k] += 1
    return counts


def _needs(identities: int) -> Counter[str]:
    rounds = max(1, round(identities / PER_CATALOGUE))
    return Counter(s.kind for s in (INCIDENTS + LOOK_ALIKES) * rounds)


def minimum_identities() -> int:
    n = 10
    while any(_needs(n)[k] + SPARE > c for k, c in _apportion(n).items()):
        n += 1
    return n


def generate(
    seed: int = 7, *, identities: int = 400, start: datetime = DEFAULT_START, hours: float = 24.0
) -> SyntheticOrg:
    """A deterministic synthetic organisation for ``seed``: records, ground truth, look-alikes.

    Everything random comes from one ``random.Random(seed)`` and no wall clock is read, so the
    same arguments always give the same records (ids included).
    """
    if start.tzinfo is None:
        raise ValueError("start needs a timezone, e.g. datetime(2026, 5, 4, tzinfo=UTC)")
    if hours < MIN_HOURS:
        raise ValueError(f"hours must be at least {MIN_HOURS:g}")
    counts = _apportion(identities)
    needs = _needs(identities)
    if any(needs[k] + SPARE > c for k, c in counts.items()):
        raise ValueError(f"identities must be at least {minimum_identities()}")

    # Generation allocates ~10^6 short-lived objects and frees almost none until the end, so the
    # cyclic collector would only rescan them over and over; it is paused for the duration.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _generate(seed, identities, counts, start, hours)
    finally:
        if paused:
            gc.enable()


def _generate(
    seed: int, identities: int, counts: dict[str, int], start: datetime, hours: float
) -> SyntheticOrg:
    sim = Sim(seed, round(hours * HOUR))
    names = NamePool(sim.rng)
    world = World(sim, names)
    pools: dict[str, list[Actor]] = {
        k: [KINDS[k].make(sim, names) for _ in range(n)] for k, n in counts.items()
    }
    taken = Counter[str]()
    rounds = max(1, round(identities / PER_CATALOGUE))
    for story in (INCIDENTS + LOOK_ALIKES) * rounds:
        story.play(world, pools[story.kind][taken[story.kind]])
        taken[story.kind] += 1
    for k, actors in pools.items():
        for a in actors[taken[k] :]:
            normal(world, a)
    for _ in range(3):
        # leavers who own nothing: the HR feed reports everyone, not just NHI owners
        world.depart(names.leaver(), world.at(0.2, 0.8))

    records = sim.finalize(start)
    assert sim.max_late <= MAX_LATE
    summary: dict[str, int] = {
        "records": len(records),
        "identities": identities,
        "incidents": len(INCIDENTS) * rounds,
        "look_alikes": len(world.benign),
        "truth": len(world.truth),
        "late_records": sim.late,
        "max_late_ms": sim.max_late,
    }
    summary.update({f"identities.{k}": n for k, n in counts.items()})
    truth_by = Counter(e.detector for e in world.truth)
    summary.update({f"truth.{d}": truth_by[d] for d in DETECTORS})
    summary.update({f"events.{t}": n for t, n in sorted(Counter(r["type"] for r in records).items())})
    return SyntheticOrg(records, world.truth, world.benign, summary, OWN_NETWORKS)
