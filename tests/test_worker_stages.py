"""The worker's stages without a broker: a toy log per (topic, partition), consumed a few records
per partition at a time, interleaved - the shape of what Kafka delivers - must give replay's
findings, whatever the interleaving and however far behind the resolver runs (watermarks); and a
judge restarted from its stored states re-reads what it had not committed without repeating."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable

from contract.events import Event
from contract.records import Finding, IdentityRow, TrustChange
from contract.settings import Settings
from streams.judge import JudgeStage
from streams.judge_parts import load_nhi
from streams.resolver import KeyState
from streams.stages import Record, ResolveStage, Send, dump_key_state, load_key_state
from synthetic import generate
from tests.scenario import events, final, play, rec, registered
from tests.test_engine_semantics import A, story
from transport.codec import decode_finding, decode_trust, encode_event, event_key
from transport.partitioner import KeyPartitioner
from transport.topics import Topics
from transport.wire import EVENTS_V1, encode_batch, headers, layout

T = Topics(prefix="x.", partitions=4)
IDLE_S = 1.0
PARTS = KeyPartitioner()


class ToyKafka:
    """Append-only logs with per-partition read positions; keys pick partitions as Kafka's would."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], list[Send]] = defaultdict(list)
        self.pos: dict[tuple[str, int], int] = defaultdict(int)

    def send(self, sends: Iterable[Send]) -> None:
        for s in sends:
            p = s.partition if s.partition is not None else PARTS.of(s.key or b"", T.partitions)
            self.logs[(s.topic, p)].append(s)

    def poll(self, topic: str, per_partition: int, rng: random.Random | None = None) -> list[Record]:
        out = []
        for p in range(T.partitions):
            log, at = self.logs[(topic, p)], self.pos[(topic, p)]
            n = rng.randint(0, per_partition) if rng is not None else per_partition
            for offset in range(at, min(at + n, len(log))):
                s = log[offset]
                out.append(Record(topic, p, offset, s.key, s.value, layout(s.headers)))
            self.pos[(topic, p)] = min(at + n, len(log))
        return out

    def read_to_end(self, topic: str, p: int) -> bool:
        return self.pos[(topic, p)] >= len(self.logs[(topic, p)])

    def rewind(self, topic: str, committed: dict[int, int]) -> None:
        for p in range(T.partitions):
            self.pos[(topic, p)] = committed.get(p, 0)


class Pipeline:
    """The two stages as the faust adapter runs them, on a clock that advances 0.1 s per round."""

    def __init__(
        self,
        kafka: ToyKafka,
        settings: Settings,
        tables: dict[str, dict[bytes, bytes]],
        *,
        per_partition: int = 2,
        resolve_every: int = 1,
        seed: int | None = None,
    ) -> None:
        self.kafka, self.tables = kafka, tables
        self.resolve = ResolveStage(T, PARTS, tables["keys"].get)
        self.judge = JudgeStage(T, settings, tables["nhi"].get, PARTS)
        for p in range(T.partitions):  # the adapter does this on assignment
            self.judge.part(p)
        self.findings: list[Finding] = []
        self.trust: list[tuple[TrustChange, IdentityRow | None]] = []
        self.acked: list[Record] = []
        self.per_partition = per_partition
        self.resolve_every = resolve_every
        self.rng = random.Random(seed) if seed is not None else None
        self.now = 100.0
        self.rounds = 0

    def _load_key(self, key: str) -> KeyState | None:
        blob = self.tables["keys"].get(key.encode())
        return load_key_state(blob) if blob is not None else None

    def round(self) -> None:
        k, judge = self.kafka, self.judge
        self.now += 0.1
        self.rounds += 1
        records = k.poll(T.events, self.per_partition, self.rng) + k.poll(
            T.by_identity, self.per_partition, self.rng
        )
        if self.rng is not None:
            self.rng.shuffle(records)  # topics interleave; within a partition of a topic, order holds
            records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        for r in records:
            judge.push(r, r, self.now)
        if judge.idle_sources(self.now, IDLE_S, lambda p: k.read_to_end(T.events, p)):
            judge.router.policy.dirty = True
        k.send(judge.router.flush(judge.source_marks(), self.now))
        self._collect(judge.release(judge.ready()).sends)
        self.checkpoint()
        if self.rounds % self.resolve_every == 0:
            sends, changed, marked = self.resolve.run(
                k.poll(T.resolver, self.per_partition * 4), self._load_key, self.now
            )
            k.send(sends)
            self.tables["keys"].update({key.encode(): dump_key_state(ks) for key, ks in changed.items()})
            self.tables["keys"].update({b"\x00marks:%d" % p: blob for p, blob in marked.items()})
            k.send(self.resolve.flush({}, self.now))

    def checkpoint(self) -> None:
        ck = self.judge.checkpoint()
        self._collect(ck.sends)
        self.tables["nhi"].update({k: v for k, (_, v) in ck.states.items()})
        self.acked.extend(ck.acks)  # type: ignore[arg-type]

    def run(self, rounds: int = 400) -> None:
        """Until everything is read, released and acked (sources go idle once read to their end)."""
        for _ in range(rounds):
            self.round()
            if self.judge.held == 0 and self._all_read() and self.now > 105:
                idle = all(m.idle for m in self.judge.source_marks())
                if idle and all(p.channels.all_idle() for p in self.judge._parts.values()):
                    return
        raise AssertionError("the toy pipeline did not finish")

    def _all_read(self) -> bool:
        k = self.kafka
        return all(k.read_to_end(t, p) for t in T.all() for p in range(T.partitions) if (t, p) in k.logs)

    def _collect(self, sends: list[Send]) -> None:
        self.findings.extend(decode_finding(s.value) for s in sends if s.topic == T.findings)
        self.trust.extend(decode_trust(s.value) for s in sends if s.topic == T.trust)

    def committed(self, topic: str) -> dict[int, int]:
        """What Kafka would commit: per partition, the first offset not acked."""
        done: dict[int, set[int]] = defaultdict(set)
        for r in self.acked:
            if r.topic == topic:
                done[r.partition].add(r.offset)
        out = {}
        for p, offsets in done.items():
            n = 0
            while n in offsets:
                n += 1
            out[p] = n
        return out


def produce(kafka: ToyKafka, evs: list[Event], per_batch: int = 3) -> None:
    """As `nhi ingest` does: batch records of a few events per partition, in read order."""
    by_part: dict[int, list[Event]] = defaultdict(list)
    for e in evs:
        p = PARTS.of(event_key(e), T.partitions)
        by_part[p].append(e)
        if len(by_part[p]) >= per_batch:
            kafka.send(
                Send(T.events, None, v, headers(EVENTS_V1), p) for v, _ in encode_batch(by_part.pop(p))
            )
    for p, rest in by_part.items():
        kafka.send(Send(T.events, None, v, headers(EVENTS_V1), p) for v, _ in encode_batch(rest))


def view(findings: Iterable[Finding]) -> dict[str, tuple[str, str, str, list[str]]]:
    return {fid: (f.detector, f.status, f.severity, f.evidence) for fid, f in final_of(findings).items()}


def final_of(findings: Iterable[Finding]) -> dict[str, Finding]:
    latest: dict[str, Finding] = {}
    for f in findings:
        latest[f.finding_id] = f
    return latest


def expected(
    records: list[dict[str, object]], settings: Settings
) -> dict[str, tuple[str, str, str, list[str]]]:
    out, _ = play(records, settings=settings)
    return {fid: (f.detector, f.status, f.severity, f.evidence) for fid, f in final(out).items()}


def test_stages_over_interleaved_partitions_give_replays_findings() -> None:
    settings = Settings()
    kafka = ToyKafka()
    produce(kafka, events(story()))
    pipe = Pipeline(kafka, settings, {"keys": {}, "nhi": {}})
    pipe.run()
    assert view(pipe.findings) == expected(story(), settings)
    assert pipe.judge.late == 0


def test_a_backfill_equals_replay_at_the_default_window_whatever_the_timing() -> None:
    # A generated day of history, read at once: partitions far apart in event time, the resolver
    # hop behind the direct path. Watermarks hold each release until every input has passed it,
    # so every interleaving, and a resolver running 1 round in 5, gives replay's findings.
    org = generate(seed=3, identities=126)
    settings = Settings()  # the default 5-minute window
    records = org.records
    _, engine = play(records, settings=settings)
    want = expected(records, settings)
    assert len(want) > 5
    for seed, resolve_every in [(1, 1), (2, 5), (3, 1), (4, 9)]:
        kafka = ToyKafka()
        produce(kafka, events(records), per_batch=25)
        pipe = Pipeline(
            kafka, settings, {"keys": {}, "nhi": {}}, per_partition=3, resolve_every=resolve_every, seed=seed
        )
        pipe.run(rounds=5000)
        # Late in replay too (parked events reaching an NHI indexed later), never more.
        assert pipe.judge.late <= engine.buffer.late, (seed, resolve_every)
        assert view(pipe.findings) == want, (seed, resolve_every)


def test_native_single_event_records_and_foreign_partitioners_still_reach_their_nhi() -> None:
    # A producer written against the native contract: one JSON event per record, and a partition
    # chosen by its own partitioner (here: all on partition 0), not the NHI's.
    settings = Settings()
    kafka = ToyKafka()
    kafka.send(Send(T.events, event_key(e), encode_event(e), None, 0) for e in events(story()))
    pipe = Pipeline(kafka, settings, {"keys": {}, "nhi": {}})
    pipe.run()
    assert view(pipe.findings) == expected(story(), settings)


def test_records_that_are_not_canonical_events_are_skipped_and_counted() -> None:
    judge = JudgeStage(T, Settings(), lambda k: None, PARTS)
    judge.push(Record(T.events, 3, 17, b"x", b'{"type": "nope"}'), "a", 0.0)
    judge.push(Record(T.events, 3, 18, b"x", None), "b", 0.0)
    judge.push(Record(T.events, 3, 19, None, b"[1]", b"events/9"), "c", 0.0)  # a layout from the future
    assert judge.rejects == 3 and judge.last_reject.startswith(f"{T.events}/3@19")
    assert judge.held == 0 and judge.checkpoint().acks == ["a", "b", "c"]


def test_a_restarted_judge_re_reads_what_was_not_committed_and_skips_what_its_states_hold() -> None:
    # A's first record is its newest (minute 9.5), so the later-read older events are released
    # (once the other partitions' marks allow) while the newer ones stay held; their records are
    # not acked. The restart re-reads from what Kafka had committed a few checkpoints earlier
    # (commits trail checkpoints): what the stored states already hold must be skipped, held
    # events come back from the re-read records, none twice.
    records = [rec("credential.used", 9.5, nhi=A, credential="jti-1"), *story()]
    # Remember one event id per NHI only: no help from step's dedupe, the marks must do it all.
    settings = Settings(dedupe_window=1)
    kafka = ToyKafka()
    produce(kafka, events(records), per_batch=1)
    tables: dict[str, dict[bytes, bytes]] = {"keys": {}, "nhi": {}}
    first = Pipeline(kafka, settings, tables, per_partition=1)
    for _ in range(3):
        first.round()
    early = {t: first.committed(t) for t in (T.events, T.by_identity, T.resolver)}
    for _ in range(9):  # not long enough for the sources to go idle
        first.round()
    assert first.judge.held and first.trust  # some released, others held for ordering at the stop

    for topic, committed in early.items():
        kafka.rewind(topic, committed)
    second = Pipeline(kafka, settings, tables, per_partition=1)
    second.run()
    assert second.judge.skipped > 0
    changes = [
        (f.finding_id, f.activity, f.status, tuple(f.evidence)) for f in first.findings + second.findings
    ]
    assert len(changes) == len(set(changes)), "a finding change was emitted twice"
    assert view(first.findings + second.findings) == expected(records, settings)
    # ... and no event was applied twice (a replayed event would count again)
    stored = {
        k.decode(): load_nhi(v, 0).state.event_count
        for k, v in tables["nhi"].items()
        if not k.startswith(b"\x00")
    }
    assert stored == {n: st.event_count for n, st in play(records, settings=settings)[1].state.nhis.items()}


def test_registration_after_use_within_the_window_matches_replay() -> None:
    records = [
        rec("credential.issued", 1, nhi=A, credential="c1", expires_at="2026-05-04T09:00:00Z"),
        rec("credential.used", 2, nhi=A, credential="c1"),
        registered(A, owner="team-a", minute=0),
    ]
    settings = Settings()
    kafka = ToyKafka()
    produce(kafka, events(records))
    pipe = Pipeline(kafka, settings, {"keys": {}, "nhi": {}})
    pipe.run()
    assert view(pipe.findings) == expected(records, settings)


def test_identity_rows_stay_current_when_events_leave_the_trust_score_alone() -> None:
    # Window 0: every event is judged once every input has passed it, most without changing A's score.
    settings = Settings(reorder_window_s=0)
    records = [registered(A), *(rec("credential.used", 1 + i, nhi=A, credential="c1") for i in range(6))]
    kafka = ToyKafka()
    produce(kafka, events(records), per_batch=1)
    pipe = Pipeline(kafka, settings, {"keys": {}, "nhi": {}})
    pipe.run()
    _, row = pipe.trust[-1]  # the latest trust record for A carries the identity row
    assert row is not None and row.event_count == len(records)
    assert len({change.event_id for change, _ in pipe.trust}) < len(pipe.trust)  # a re-send, same change
