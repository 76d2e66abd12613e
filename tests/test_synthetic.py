"""The synthetic organisation: deterministic, valid, realistic in volume and disorder, and with a
ground truth that is exactly what the detector semantics produce on its records."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from contract.changes import finding_id
from contract.events import Event, EventType, event_from_record
from contract.identity import scope_of
from contract.settings import Settings
from synthetic import (
    BENIGN_KINDS,
    CONTEXT_DRIFT,
    DETECTORS,
    TOKEN_OUTLIVED_TASK,
    UNOWNED_ACTOR,
    Expected,
    SyntheticOrg,
    generate,
    minimum_identities,
    score,
)

IDENTITY_ATTRS = ("cluster", "namespace", "env", "region", "image")
CREDENTIAL_ATTRS = ("pod_uid", "node", "instance", "ip")
KINDS = ("k8s:", "aws:", "vault:", "ci:", "spiffe://", "agent:")


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate()


@pytest.fixture(scope="module")
def events(org: SyntheticOrg) -> list[Event]:
    return [event_from_record(r) for r in org.records]


def digest(records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(b"\n".join(orjson.dumps(r) for r in records)).hexdigest()


def triples(truth: list[Expected]) -> set[tuple[str, str, str]]:
    return {(e.detector, e.nhi, e.key) for e in truth}


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_records_and_truth(org: SyntheticOrg) -> None:
    again = generate()
    assert again.records == org.records
    assert again.truth == org.truth and again.benign == org.benign and again.summary == org.summary


def test_different_seed_gives_different_records(org: SyntheticOrg) -> None:
    other = generate(8)
    assert digest(other.records) != digest(org.records)
    assert {r["nhi"] for r in other.records if "nhi" in r} != {r["nhi"] for r in org.records if "nhi" in r}


def test_independent_of_hash_randomisation(org: SyntheticOrg) -> None:
    # Set iteration order changes with PYTHONHASHSEED; the output must not depend on it.
    code = (
        "import hashlib, orjson; from synthetic import generate; "
        "print(hashlib.sha256(b'\\n'.join(orjson.dumps(r) for r in generate().records)).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest(org.records)


# -- contract and shape ---------------------------------------------------------------------------


def test_every_record_validates_with_explicit_unique_id(org: SyntheticOrg, events: list[Event]) -> None:
    assert len(events) == len(org.records)
    ids = [r["id"] for r in org.records]
    assert all(ids) and len(set(ids)) == len(ids)
    assert [e.id for e in events] == ids  # the explicit id is kept, never replaced by a hash
    assert all(r["time"].endswith("Z") for r in org.records)
    assert all(r["expires_at"].endswith("Z") for r in org.records if "expires_at" in r)
    # nothing outside the contract: attributes only as contract.identity defines them
    assert {k for e in events for k in e.attrs} == {"session_kind", "principal_kind", "kind_evidence"}
    orjson.dumps(org.records)  # JSON-serialisable as is


def test_volume_and_mix(org: SyntheticOrg) -> None:
    assert 40_000 <= len(org.records) <= 70_000
    nhis = {r["nhi"] for r in org.records if "nhi" in r and not _person(r)}
    assert 380 <= len(nhis) <= 400
    by_kind = Counter(next(k for k in KINDS if n.startswith(k)) for n in nhis)
    assert set(by_kind) == set(KINDS) and min(by_kind.values()) >= 25
    types = Counter(r["type"] for r in org.records)
    assert set(types) == {t.value for t in EventType}
    assert types["credential.used"] > types["credential.issued"] > types["task.started"]
    # HR records name a person and nothing else
    assert all(
        set(r) == {"id", "type", "time", "owner"} for r in org.records if r["type"] == "owner.departed"
    )
    failures = sum(1 for r in org.records if r.get("outcome") == "failure")
    assert 0 < failures < types["credential.used"] * 0.05


def test_disorder_is_small_and_bounded(org: SyntheticOrg, events: list[Event]) -> None:
    newest = events[0].time
    late = 0
    for e in events:
        behind = newest - e.time
        assert behind <= timedelta(seconds=120)
        late += behind > timedelta(0)
        newest = max(newest, e.time)
    assert 0.01 * len(events) < late < 0.04 * len(events)
    assert org.summary["late_records"] == late
    # ...and well inside the engine's reorder window, so ordering is exercised, never broken
    assert org.summary["max_late_ms"] < Settings().reorder_window_s * 1000


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        generate(start=datetime(2026, 5, 4))
    with pytest.raises(ValueError, match="hours"):
        generate(hours=2)
    with pytest.raises(ValueError, match=f"at least {minimum_identities()}"):
        generate(identities=minimum_identities() - 1)


def test_generation_is_fast() -> None:
    # CPU time, not wall time: other work on a shared machine must not make this flaky.
    started = time.process_time()
    generate(3)
    assert time.process_time() - started < 3.0


# -- ground truth and look-alikes -----------------------------------------------------------------


def test_truth_has_every_detector_variant(org: SyntheticOrg) -> None:
    keys: dict[str, list[str]] = defaultdict(list)
    for e in org.truth:
        keys[e.detector].append(e.key)
    outlived, unowned, drift = keys[TOKEN_OUTLIVED_TASK], keys[UNOWNED_ACTOR], keys[CONTEXT_DRIFT]
    after_end = {k.removesuffix(":used-after-end") for k in outlived if k.endswith(":used-after-end")}
    at_end = {k for k in outlived if not k.endswith(":used-after-end")}
    assert after_end - at_end and at_end - after_end and at_end & after_end  # (a), (b) and both
    assert set(unowned) == {"no-owner", "never-registered", "owner-departed", "identity-deleted"}
    cred_attrs = {k.rsplit(":", 1)[1] for k in drift if "=" not in k}
    assert cred_attrs == set(CREDENTIAL_ATTRS) | WORKLOAD_SIGNALS
    ident_attrs = {k.split("=", 1)[0] for k in drift if "=" in k}
    assert ident_attrs == set(IDENTITY_ATTRS)
    for det in DETECTORS:  # a few dozen incidents: 8-20 NHIs per detector
        assert 8 <= len({e.nhi for e in org.truth if e.detector == det}) <= 20
    assert len(triples(org.truth)) == len(org.truth)  # no duplicate expectations
    assert all(e.description for e in org.truth)


def test_look_alikes_cover_every_kind_and_never_overlap_incidents(org: SyntheticOrg) -> None:
    assert Counter(b.kind for b in org.benign).keys() == set(BENIGN_KINDS)
    assert not {b.nhi for b in org.benign} & {e.nhi for e in org.truth}
    nhis = {r["nhi"] for r in org.records if "nhi" in r}
    assert {b.nhi for b in org.benign} <= nhis and {e.nhi for e in org.truth} <= nhis


def test_ordinary_traffic_is_hygienic(events: list[Event]) -> None:
    """The invariants that keep accidental incidents out, checked on the records themselves."""
    issued: dict[str, Event] = {}
    revoked: dict[str, datetime] = {}
    for e in sorted(events, key=Event.sort_key):
        if e.type is EventType.CREDENTIAL_ISSUED:
            assert e.credential and e.credential not in issued
            issued[e.credential] = e
        elif e.type is EventType.CREDENTIAL_REVOKED:
            assert e.credential in issued
            revoked[e.credential] = e.time
        elif e.type is EventType.CREDENTIAL_USED and e.attrs.get("principal_kind") != "human":
            assert e.credential
            i = issued[e.credential]  # every credential is issued before it is used
            assert e.nhi == i.nhi and e.task == i.task  # a bound credential always names its task
            assert i.expires_at is None or e.time < i.expires_at  # never used expired...
            assert e.credential not in revoked  # ...or revoked
            # Both sides carry the same credential-level attributes, so the drift verdict can't
            # depend on how an engine reads an attribute missing on one side.
            used = {a for a in CREDENTIAL_ATTRS if getattr(e.context, a) is not None}
            if i.attrs.get("session_kind") == "workload":
                used.discard("ip")  # the platform delivers a workload's credential, not to an address
            assert used == {a for a in CREDENTIAL_ATTRS if getattr(i.context, a) is not None}


# -- the truth is what the semantics produce ------------------------------------------------------


WORKLOAD_SIGNALS = {
    "credential-outside-networks",
    "credential-in-others-seat",
    "credential-new-platform",
    "credential-off-known-address",
}


def _person(record: dict[str, Any]) -> bool:
    return bool(record.get("attrs", {}).get("principal_kind") == "human")


def _os(user_agent: str | None) -> str | None:
    ua = (user_agent or "").lower()
    return next((o for o in ("windows", "darwin", "linux") if o in ua), None)


def _public(ip: str) -> bool:
    return not ipaddress.ip_address(ip).is_private


class _WorkloadOracle:
    """The workload-credential signals as the brief states them, for one run (all workload uses in
    time order; people's uses of an address in ``seats``)."""

    def __init__(self, seats: dict[str, list[tuple[datetime, str]]], window: timedelta) -> None:
        self.seats, self.window = seats, window
        self.platform: dict[str, str] = {}
        self.addresses: dict[str, list[str]] = defaultdict(list)

    def judge(self, e: Event, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> set[str]:
        out = set()
        cred, ip = e.credential or "", e.context.ip
        os_now = _os(e.context.user_agent)
        if os_now and self.platform.setdefault(cred, os_now) != os_now:
            out.add("credential-new-platform")
        if ip is None:
            return out
        if networks and _public(ip) and not any(ipaddress.ip_address(ip) in n for n in networks):
            out.add("credential-outside-networks")
        known = self.addresses[cred]
        if e.context.instance and _public(ip) and any(_public(a) for a in known) and ip not in known:
            out.add("credential-off-known-address")
        if any(abs(e.time - when) <= self.window and who != e.nhi for when, who in self.seats[ip]):
            out.add("credential-in-others-seat")
        if ip not in known:
            known.append(ip)
        return out


def oracle(
    events: list[Event], *, any_task_start_seeds: bool, count_all_events: bool, networks: str = ""
) -> set[tuple[str, str, str]]:
    """The three detectors as the brief states them, written independently of the engine.

    The two flags cover the readings the brief leaves open: whether any task.started seeds the
    drift baseline (or only attested ones), and whether the learning window counts every event
    of the NHI (or only those with identity-level context). The truth must hold under all.
    """
    s = Settings()
    nets = [ipaddress.ip_network(c) for c in networks.split(",") if c]
    overhang, grace = timedelta(seconds=s.max_overhang_s), timedelta(seconds=s.grace_s)
    found: set[tuple[str, str, str]] = set()
    registered: set[str] = set()
    deleted: set[str] = set()
    owner: dict[str, str | None] = {}
    departed: set[str] = set()
    creds: dict[str, Event] = {}
    revoked: dict[str, datetime] = {}
    ended: dict[str, datetime] = {}
    bound: dict[str, list[str]] = defaultdict(list)
    baseline: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    seeded: set[str] = set()
    count: Counter[str] = Counter()
    seats: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in events:  # a person's use of an address counts before or after a workload's (a window)
        if e.attrs.get("principal_kind") == "human" and e.type is EventType.CREDENTIAL_USED and e.context.ip:
            seats[e.context.ip].append((e.time, e.nhi or ""))
    workload = _WorkloadOracle(seats, timedelta(seconds=s.seat_window_s))
    # scopes an inventory covers: native registrations are inventory records (docs/detectors.md)
    inventoried = {scope_of(e.nhi) for e in events if e.nhi and e.type is EventType.IDENTITY_REGISTERED}
    for e in sorted(events, key=Event.sort_key):
        nhi, t = e.nhi or "", e.type
        values = [(a, v) for a in IDENTITY_ATTRS if (v := getattr(e.context, a)) is not None]
        if nhi and (count_all_events or values):
            count[nhi] += 1
        if t in (EventType.IDENTITY_REGISTERED, EventType.IDENTITY_UPDATED):
            registered.add(nhi)
            deleted.discard(nhi)
            if e.owner is not None or t is EventType.IDENTITY_REGISTERED:
                owner[nhi] = e.owner
        elif t is EventType.IDENTITY_DELETED:
            deleted.add(nhi)
        elif t is EventType.OWNER_DEPARTED:
            departed.add(e.owner or "")
        elif t is EventType.CREDENTIAL_ISSUED:
            creds[e.credential or ""] = e
            if e.task:
                bound[e.task].append(e.credential or "")
        elif t is EventType.CREDENTIAL_REVOKED:
            revoked.setdefault(e.credential or "", e.time)
        elif t is EventType.TASK_ENDED and e.task:
            ended[e.task] = e.time
            for c in bound[e.task]:
                ce = creds[c]
                if c in revoked and revoked[c] <= e.time:
                    continue
                if ce.expires_at is not None and ce.expires_at <= e.time + overhang:
                    continue
                found.add((TOKEN_OUTLIVED_TASK, ce.nhi or "", c))
        if e.attrs.get("principal_kind") == "human":
            continue  # people are kept, never judged
        if t in (EventType.CREDENTIAL_ISSUED, EventType.CREDENTIAL_USED):
            if nhi in deleted:
                found.add((UNOWNED_ACTOR, nhi, "identity-deleted"))
            elif owner.get(nhi) in departed:
                found.add((UNOWNED_ACTOR, nhi, "owner-departed"))
            elif nhi not in registered:
                if scope_of(nhi) in inventoried:  # a shadow NHI; with no inventory, no finding
                    found.add((UNOWNED_ACTOR, nhi, "never-registered"))
            elif owner.get(nhi) is None:
                found.add((UNOWNED_ACTOR, nhi, "no-owner"))
        if t is EventType.CREDENTIAL_USED and e.credential in creds:
            issue = creds[e.credential]
            task = issue.task
            if task in ended and e.time - ended[task] > grace:
                found.add((TOKEN_OUTLIVED_TASK, nhi, f"{e.credential}:used-after-end"))
            for a in CREDENTIAL_ATTRS:
                was, now = getattr(issue.context, a), getattr(e.context, a)
                if was is not None and now is not None and was != now:
                    found.add((CONTEXT_DRIFT, nhi, f"{e.credential}:{a}"))
            if issue.attrs.get("session_kind") == "workload":
                found.update((CONTEXT_DRIFT, nhi, f"{e.credential}:{r}") for r in workload.judge(e, nets))
        if not values:
            continue
        trusted = (t is EventType.TASK_STARTED and (any_task_start_seeds or e.attested)) or (
            t is EventType.CREDENTIAL_ISSUED and e.attested
        )
        if trusted:
            seeded.add(nhi)
        if trusted or (nhi not in seeded and count[nhi] <= s.learn_events):
            for a, v in values:
                baseline[nhi][a].add(v)
            continue
        found.update((CONTEXT_DRIFT, nhi, f"{a}={v}") for a, v in values if v not in baseline[nhi][a])
    return found


@pytest.mark.parametrize("any_task_start_seeds", [True, False])
@pytest.mark.parametrize("count_all_events", [True, False])
def test_truth_is_exactly_what_the_semantics_produce(
    org: SyntheticOrg, events: list[Event], any_task_start_seeds: bool, count_all_events: bool
) -> None:
    found = oracle(
        events,
        any_task_start_seeds=any_task_start_seeds,
        count_all_events=count_all_events,
        networks=org.networks,
    )
    assert found == triples(org.truth)


def test_truth_holds_for_other_seeds_and_shapes() -> None:
    for kw in ({"seed": 21, "hours": 6.0}, {"seed": 22, "identities": minimum_identities(), "hours": 48.0}):
        small = generate(**kw)  # type: ignore[arg-type]
        evs = [event_from_record(r) for r in small.records]
        found = oracle(evs, any_task_start_seeds=True, count_all_events=True, networks=small.networks)
        assert found == triples(small.truth), kw


def test_engine_finds_exactly_the_truth(org: SyntheticOrg, events: list[Event]) -> None:
    """End to end with the real engine, fed in delivery order (through its reorder buffer)."""
    engine_mod = pytest.importorskip("streams.engine")
    engine = engine_mod.Engine(Settings(own_networks=org.networks))
    findings = []
    for e in events:
        findings.extend(engine.process(e).findings)
    findings.extend(engine.flush().findings)
    got = {f.finding_id for f in findings}
    want = {finding_id(e.detector, e.nhi, e.key): e for e in org.truth}
    assert sorted(want[k].description for k in want.keys() - got) == []  # missed
    assert sorted(f"{f.detector} {f.nhi} {f.summary}" for f in findings if f.finding_id not in want) == []
    card = score({(f.detector, f.nhi) for f in findings}, org.truth)
    assert card.recall == 1.0 and card.precision == 1.0


# -- scoring --------------------------------------------------------------------------------------


def test_score_arithmetic_on_a_hand_made_case() -> None:
    truth = [
        Expected(TOKEN_OUTLIVED_TASK, "k8s:a", "jti:1", ""),
        Expected(TOKEN_OUTLIVED_TASK, "k8s:a", "jti:1:used-after-end", ""),  # same pair: one incident
        Expected(TOKEN_OUTLIVED_TASK, "aws:b", "ASIA1", ""),
        Expected(UNOWNED_ACTOR, "agent:c", "no-owner", ""),
    ]
    found = [
        (TOKEN_OUTLIVED_TASK, "k8s:a"),
        (TOKEN_OUTLIVED_TASK, "k8s:a"),  # duplicate: counted once
        (UNOWNED_ACTOR, "agent:c"),
        (UNOWNED_ACTOR, "k8s:a"),  # false positive
        (CONTEXT_DRIFT, "vault:d"),  # false positive
    ]
    card = score(found, truth)
    assert card.per_detector == {
        CONTEXT_DRIFT: (0, 1, 0),
        TOKEN_OUTLIVED_TASK: (1, 0, 1),
        UNOWNED_ACTOR: (1, 1, 0),
    }
    assert card.recall == pytest.approx(2 / 3)
    assert card.precision == pytest.approx(2 / 4)


def test_score_edge_cases() -> None:
    assert score([], []).per_detector == {d: (0, 0, 0) for d in DETECTORS}
    assert (score([], []).recall, score([], []).precision) == (1.0, 1.0)
    nothing_found = score([], [Expected(UNOWNED_ACTOR, "n", "no-owner", "")])
    assert (nothing_found.recall, nothing_found.precision) == (0.0, 1.0)
    other = score([("trust-drop", "n")], [])
    assert other.per_detector["trust-drop"] == (0, 1, 0) and other.precision == 0.0


def test_records_start_at_the_requested_time() -> None:
    start = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    small = generate(5, identities=minimum_identities(), start=start, hours=6)
    times = [event_from_record(r).time for r in small.records]
    assert start <= min(times) and max(times) <= start + timedelta(hours=6)
