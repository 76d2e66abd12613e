"""Faults: the worker and the sink SIGKILLed mid-stream and restarted, and a broker restarted under
`nhi run`, lose and duplicate nothing - the store ends up exactly as `nhi replay` makes it.

Both run a generated organisation's day with a reorder window covering it (see
test_worker_kafka.py for why), so every result is comparable row by row with replay's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from synthetic import generate
from tests.kafka_fixtures import BROKER_SCRIPT, REPO_ROOT
from tests.kafka_helpers import read_topics
from tests.scenario import events
from tests.worker_harness import (
    HANG_GUARD_S,
    produce_events,
    spawn,
    stop,
    store_view,
    wait_done,
    write_jsonl,
)
from transport.admin import ensure_topics
from transport.topics import Topics

pytestmark = pytest.mark.kafka

WINDOW = {"NHI_REORDER_WINDOW_S": "86400"}
# A SIGKILLed worker stays in its consumer group until its session times out, and the restarted one
# gets no partitions before that: faust's default is 60 s per kill. The failover itself is what is
# tested, not its wait, so the killed workers run with a 15 s session.
KILLED_WORKER = {**WINDOW, "BROKER_SESSION_TIMEOUT": "15", "BROKER_HEARTBEAT_INTERVAL": "3"}


@pytest.fixture(scope="module")
def org_jsonl(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], Path, Path]:
    """The organisation's records, as JSONL, and the store `nhi replay` makes of them."""
    tmp = tmp_path_factory.mktemp("org")
    org = generate(seed=5, identities=126)
    jsonl = write_jsonl(tmp / "org.jsonl", org.records)
    env = {**os.environ, **WINDOW}
    cmd = [sys.executable, "-m", "nhi", "replay", "--db", str(tmp / "replay.duckdb"), "--quiet", str(jsonl)]
    subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    return org.records, jsonl, tmp / "replay.duckdb"


async def _until(check: Callable[[], object], what: str, procs: list[subprocess.Popen[bytes]]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    while not await check():  # type: ignore[misc]
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode}"
        assert loop.time() < deadline, f"never got {what} (hang guard)"
        await asyncio.sleep(0.2)


def test_killing_worker_and_sink_mid_stream_loses_and_duplicates_nothing(
    kafka_bootstrap: str,
    unique_name: Callable[..., str],
    tmp_path: Path,
    org_jsonl: tuple[list[dict[str, object]], Path, Path],
) -> None:
    records, _, reference = org_jsonl
    topics = Topics(prefix=unique_name("wk") + ".", partitions=4)
    app_id, group = f"{topics.prefix}worker", f"{topics.prefix}sink"
    db = tmp_path / "kafka.duckdb"
    bs = kafka_bootstrap

    def worker() -> subprocess.Popen[bytes]:
        return spawn("worker", bs, topics, "--quiet", env=KILLED_WORKER)

    def sink() -> subprocess.Popen[bytes]:
        return spawn("sink", bs, topics, "--db", str(db), "--no-query-server", "--quiet")

    async def by_identity_started() -> bool:
        # Routed records on by-identity, and NHI states already in the worker's changelog.
        states = f"{app_id}-nhi-state-changelog"
        got = await read_topics(bs, [topics.by_identity, states])
        return bool(got[topics.by_identity]) and bool(got[states])

    async def sink_started() -> bool:
        return await _committed_any(bs, group, topics.events)

    async def findings_started() -> bool:
        return bool((await read_topics(bs, [topics.findings]))[topics.findings])

    async def go() -> None:
        await ensure_topics(bs, topics)
        await produce_events(bs, topics, events(records))
        w, s = worker(), sink()
        # 1: both killed while the worker routes and holds (some states already checkpointed).
        await _until(by_identity_started, "routed records and states", [w, s])
        await _until(sink_started, "a sink commit", [w, s])
        w.kill()
        s.kill()
        w.wait()
        s.wait()
        w, s = worker(), sink()
        # 2: the worker killed again once it has started sending findings (mid release).
        await _until(findings_started, "findings", [w, s])
        w.kill()
        w.wait()
        w = worker()
        try:
            await wait_done(bs, topics, app_id, group, procs=[w, s])
        finally:
            assert stop(w) == 0
            assert stop(s) == 0

    asyncio.run(go())
    got, expected = store_view(db, skip=("identities",)), store_view(reference, skip=("identities",))
    for table in expected:
        assert got[table] == expected[table], table
    assert len(expected["events"]) == len(records)


async def _committed_any(bootstrap: str, group: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return any(tp.topic == topic and meta.offset > 0 for tp, meta in offsets.items())
    finally:
        await admin.close()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A broker of this test's own (state under tmp_path), so restarting it disturbs no other test."""
    state = tmp_path / "broker"
    base = [sys.executable, str(BROKER_SCRIPT), "--dir", str(state)]
    up = subprocess.run([*base, "up"], capture_output=True, text=True, check=False)
    if up.returncode != 0:
        reason = "\n".join(up.stderr.strip().splitlines()[-10:])
        if os.environ.get("CI"):
            pytest.fail(f"a second broker did not start:\n{reason}")
        pytest.skip(f"a second broker did not start:\n{reason}")

    def restart() -> None:
        subprocess.run([*base, "restart"], capture_output=True, text=True, check=True)

    try:
        yield up.stdout.strip().splitlines()[-1], restart
    finally:
        subprocess.run([*base, "down"], capture_output=True, text=True, check=False)


def test_nhi_run_survives_a_broker_restart(
    own_broker: tuple[str, Callable[[], None]],
    unique_name: Callable[..., str],
    tmp_path: Path,
    org_jsonl: tuple[list[dict[str, object]], Path, Path],
) -> None:
    bs, restart = own_broker
    records, _, reference = org_jsonl
    topics = Topics(prefix=unique_name("wb") + ".", partitions=4)
    app_id, group = f"{topics.prefix}worker", f"{topics.prefix}sink"
    db = tmp_path / "kafka.duckdb"

    async def go() -> None:
        await ensure_topics(bs, topics)
        half = len(records) // 2
        await produce_events(bs, topics, events(records[:half]))
        run = spawn("run", bs, topics, "--db", str(db), "--no-query-server", "--quiet", env=WINDOW)

        async def routing() -> bool:
            return bool((await read_topics(bs, [topics.by_identity]))[topics.by_identity])

        await _until(routing, "routed records", [run])
        await asyncio.to_thread(restart)  # mid-stream: the worker and the sink lose the broker
        await produce_events(bs, topics, events(records[half:]))
        try:
            await wait_done(bs, topics, app_id, group, procs=[run])
        finally:
            assert stop(run) == 0

    asyncio.run(go())
    got, expected = store_view(db), store_view(reference)
    for table in expected:
        assert got[table] == expected[table], table
