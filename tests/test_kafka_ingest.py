"""nhi ingest against a real broker: events keyed right, rejects in the DLQ with headers, no secret anywhere."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from contract.events import Event
from contract.settings import load_settings
from ingest.collect import Collector
from ingest.sources import read_inputs
from nhi.cli import main
from tests.kafka_fixtures import REPO_ROOT
from tests.kafka_helpers import Msg, read_topics
from transport.codec import event_key
from transport.dlq import H_LOCATION, H_REASON, H_SOURCE
from transport.partitioner import KeyPartitioner
from transport.topics import Topics, topics_from_env
from transport.wire import EVENTS_V1, HEADER, decode_batch

pytestmark = pytest.mark.kafka

TOKEN = "ghp_PlantedSecretToken0123456789abcdef"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQ"

GOOD = [
    {"type": "identity.registered", "time": "2026-05-01T12:00:00Z", "nhi": "k8s:prod/a/ledger", "owner": "alice"},
    {"type": "task.started", "time": "2026-05-01T12:00:01Z", "nhi": "k8s:prod/a/ledger", "task": "pod-1"},
    {"type": "credential.issued", "time": "2026-05-01T12:00:02Z", "nhi": "k8s:prod/a/ledger", "credential": "c-1",
     "task": "pod-1", "attrs": {"token": TOKEN, "note": f"Authorization: Bearer {JWT}"}},
    {"type": "credential.used", "time": "2026-05-01T12:00:03Z", "nhi": "aws:1:role/ci", "credential": "c-2",
     "action": "s3:GetObject", "outcome": "success", "attrs": {"headers": {"api-key": TOKEN}}},
    {"type": "task.ended", "time": "2026-05-01T12:00:04Z", "task": "pod-1"},
    {"type": "credential.revoked", "time": "2026-05-01T12:00:05Z", "credential": "c-2"},
    {"type": "owner.departed", "time": "2026-05-01T12:00:06Z", "owner": "alice"},
]  # fmt: skip
BAD = [
    b'{"type": "credential.used", "time": "not a time", "nhi": "k8s:x", "token": "' + TOKEN.encode() + b'"}',
    b'garbage line password="' + TOKEN.encode() + b'" Authorization: Bearer ' + JWT.encode(),
    # pydantic quotes the bad value in its reason: the DLQ header must not carry the token's start either.
    b'{"type": "credential.used", "time": "Bearer ' + JWT.encode() + b'", "nhi": "k"}',
]
JWT_PREFIX = JWT.rsplit(".", 1)[0]  # header.payload: what a value cut at 60 chars would still show


def _write_input(path: Path) -> None:
    lines = [orjson.dumps(r) for r in GOOD[:3]] + [BAD[0]] + [orjson.dumps(r) for r in GOOD[3:]] + BAD[1:]
    path.write_bytes(b"\n".join(lines) + b"\n")


def _expected(path: Path) -> tuple[list[Event], int]:
    collector = Collector("native", load_settings())
    events = [x for x in collector.run(read_inputs([str(path)])) if isinstance(x, Event)]
    return events, collector.rejects


def _read(bootstrap: str, topics: Topics) -> dict[str, list[Msg]]:
    return asyncio.run(read_topics(bootstrap, topics.all()))


def _events(msgs: list[Msg]) -> list[tuple[Msg, Event]]:
    """Every event of the events topic's batch records, with the record it came in."""
    out = []
    for m in msgs:
        assert m.headers[HEADER] == EVENTS_V1
        out.extend((m, e) for e in decode_batch(m.value or b""))
    return out


def test_ingest_file_keys_dlq_and_no_secret(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    topics = Topics(prefix=unique_name("ing") + ".", partitions=4)
    source = tmp_path / "mixed.jsonl"
    _write_input(source)
    expected, n_rejects = _expected(source)
    assert len(expected) == len(GOOD) and n_rejects == len(BAD)

    args = ["ingest", "--bootstrap", kafka_bootstrap, "--topic-prefix", topics.prefix, "-q", str(source)]
    assert main(args) == 0

    got = _read(kafka_bootstrap, topics)
    events = _events(got[topics.events])
    assert sorted(e.id for _, e in events) == sorted(e.id for e in expected)
    assert len(got[topics.events]) < len(events)  # batch records, not one per event
    by_id = {e.id: e for e in expected}
    keys = set()
    for m, event in events:
        assert event == by_id[event.id]
        # In the partition a keyed send would choose: the NHI, else what the resolver looks it up by.
        keys.add(event_key(event))
        assert KeyPartitioner().of(event_key(event), topics_from_env().partitions) == m.partition
    assert {b"k8s:prod/a/ledger", b"aws:1:role/ci", b"pod-1", b"c-2", b"alice"} <= keys

    dlq = got[topics.dlq]
    assert len(dlq) == len(BAD)
    locations = sorted(m.headers[H_LOCATION].decode() for m in dlq)
    assert locations == sorted(f"{source}:{n}" for n in (4, 9, 10))
    for m in dlq:
        assert m.headers[H_SOURCE] == b"native"
        assert m.headers[H_REASON]
        assert b"fp:" in (m.value or b"")  # the secret was replaced by its fingerprint, not dropped
    # Per-line pydantic errors and JSON errors both give their reason.
    reasons = {m.headers[H_LOCATION].decode(): m.headers[H_REASON].decode() for m in dlq}
    assert "time" in reasons[f"{source}:4"]
    assert "JSON" in reasons[f"{source}:9"]

    everything = [m for msgs in got.values() for m in msgs]
    for secret in (TOKEN.encode(), JWT_PREFIX.encode()):
        assert not [m for m in everything if secret in m.all_bytes()], "a secret reached Kafka"

    # Topics were created with explicit layouts; the engine-output ones are empty.
    assert not got[topics.findings] and not got[topics.trust]


def test_ingest_is_idempotent_on_topics(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    """Running twice reuses the topics (already-exists is fine) and appends the same events again."""
    topics = Topics(prefix=unique_name("ing") + ".", partitions=2)
    source = tmp_path / "good.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(r) for r in GOOD) + b"\n")
    args = ["ingest", "--bootstrap", kafka_bootstrap, "--topic-prefix", topics.prefix, "-q", str(source)]
    assert main(args) == 0
    assert main(args) == 0
    events = _events(_read(kafka_bootstrap, topics)[topics.events])
    ids = [e.id for _, e in events]
    assert len(ids) == 2 * len(GOOD) and len(set(ids)) == len(GOOD)


def test_ingest_transport_failure_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "good.jsonl"
    source.write_bytes(orjson.dumps(GOOD[0]) + b"\n")
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    assert main(["ingest", "--bootstrap", "127.0.0.1:1", "--topic-prefix", "x.", str(source)]) == 2
    assert "Kafka at 127.0.0.1:1" in capsys.readouterr().err


def _spawn(args: list[str], **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "nhi", *args], cwd=REPO_ROOT, env=env, **kw)  # type: ignore[call-overload]


def _wait_for_events(bootstrap: str, topics: Topics, n: int, proc: subprocess.Popen[bytes]) -> list[Event]:
    while True:
        got = [e for _, e in _events(_read(bootstrap, topics)[topics.events])]
        if len(got) >= n:
            return got
        assert proc.poll() is None, "nhi ingest exited early"


def test_ingest_follow_and_watch(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    """--follow picks up appended lines; --watch picks up files moved into the folder (gz read whole)."""
    topics = Topics(prefix=unique_name("ing") + ".", partitions=2)
    grow = tmp_path / "grow.jsonl"
    grow.write_bytes(orjson.dumps(GOOD[0]) + b"\n")
    follow = _spawn(["ingest", "-b", kafka_bootstrap, "--topic-prefix", topics.prefix, "--follow", str(grow)])
    try:
        _wait_for_events(kafka_bootstrap, topics, 1, follow)
        with grow.open("ab") as fh:
            fh.write(orjson.dumps(GOOD[1]) + b"\n" + orjson.dumps(GOOD[2])[:20])  # second line half-written
        _wait_for_events(kafka_bootstrap, topics, 2, follow)
        with grow.open("ab") as fh:
            fh.write(orjson.dumps(GOOD[2])[20:] + b"\n")
        got = _wait_for_events(kafka_bootstrap, topics, 3, follow)
        assert [e.type.value for e in sorted(got, key=lambda e: e.time)] == [r["type"] for r in GOOD[:3]]
    finally:
        follow.send_signal(signal.SIGTERM)
        assert follow.wait() == 0

    folder = tmp_path / "incoming"
    folder.mkdir()
    watch = _spawn(["ingest", "-b", kafka_bootstrap, "--topic-prefix", topics.prefix, "--watch", str(folder)])
    try:
        staging = tmp_path / "staging.jsonl"
        staging.write_bytes(orjson.dumps(GOOD[3]) + b"\n")
        staging.rename(folder / "a.jsonl")
        _wait_for_events(kafka_bootstrap, topics, 4, watch)
        packed = tmp_path / "b.jsonl.gz"
        packed.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in GOOD[4:]) + b"\n"))
        packed.rename(folder / "b.jsonl.gz")
        with (folder / "a.jsonl").open("ab") as fh:
            fh.write(orjson.dumps(GOOD[4] | {"id": "appended"}) + b"\n")
        got = _wait_for_events(kafka_bootstrap, topics, len(GOOD) + 1, watch)
        assert "appended" in {e.id for e in got}
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait() == 0


def test_ingest_stdin(kafka_bootstrap: str, unique_name: Callable[..., str]) -> None:
    topics = Topics(prefix=unique_name("ing") + ".", partitions=2)
    proc = _spawn(
        ["ingest", "-b", kafka_bootstrap, "--topic-prefix", topics.prefix, "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    data = b"\n".join(orjson.dumps(r) for r in GOOD) + b"\n" + BAD[1]  # last line without a newline
    _, err = proc.communicate(data)
    assert proc.returncode == 0, err.decode()
    got = _read(kafka_bootstrap, topics)
    assert len(_events(got[topics.events])) == len(GOOD)
    assert [m.headers[H_LOCATION] for m in got[topics.dlq]] == [f"stdin:{len(GOOD) + 1}".encode()]
    assert f"records {len(GOOD) + 1}".encode() in err


def test_ingest_counts_skipped_records_and_the_sink_stores_them(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    """Records about no NHI are not rejects: ingest counts them per input, collector and reason on
    the compacted ingest-stats topic, and the sink stores the counts (what replay stores)."""
    from store.store import Store
    from tests.real_datasets import dataset_file
    from transport.codec import decode_skipped
    from transport.sink import SinkBatch, run_sink

    topics = Topics(prefix=unique_name("ing") + ".", partitions=2)
    source = dataset_file("k8saudit/falco-trace-files.jsonl")
    collector = Collector("k8s-audit", load_settings())
    list(collector.run(read_inputs([str(source)])))
    assert collector.skipped_total > 10
    args = [
        "ingest",
        "--bootstrap",
        kafka_bootstrap,
        "--topic-prefix",
        topics.prefix,
        "-q",
        "-f",
        "k8s-audit",
    ]
    assert main([*args, str(source)]) == 0

    tallies = dict(decode_skipped(m.value or b"") for m in _read(kafka_bootstrap, topics)[topics.stats])
    assert tallies == collector.skipped

    db = tmp_path / "sink.duckdb"

    async def sink_until_stored() -> None:
        stop = asyncio.Event()
        seen = 0

        def on_batch(batch: SinkBatch) -> None:
            nonlocal seen
            seen += sum(
                end - first for (topic, _), (first, end) in batch.ranges.items() if topic == topics.stats
            )
            if seen >= len(tallies):
                stop.set()

        await asyncio.wait_for(
            run_sink(
                kafka_bootstrap,
                str(db),
                topics,
                unique_name("sink"),
                stop,
                on_batch=on_batch,
                query_port=None,
            ),
            timeout=60,
        )

    asyncio.run(sink_until_stored())
    with Store.open(db, read_only=True) as store:
        stored = {
            (o, s, r): n for o, s, r, n in store.rows("SELECT origin, source, reason, records FROM skipped")
        }
    assert stored == collector.skipped
