"""nhi query while nhi sink holds the store: answered by the sink, consistent, and equal to the answers after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from contract.errors import QueryError, StoreError
from nhi.cmd_query import execute
from queries.named import load_named_queries
from queries.output import RENDERERS
from queries.remote import run_remote
from store.query_wire import server_file
from store.readonly import QueryResult, run_query
from tests.kafka_fixtures import REPO_ROOT
from tests.sink_data import dataset, produce_records
from transport.topics import Topics

pytestmark = pytest.mark.kafka

# Each request runs in one read transaction, and a batch's rows and offsets commit together:
# the events stored always equal the events topic's consumed offsets, whenever one asks.
CONSISTENT = """
SELECT (SELECT count(*) FROM events) AS events,
       (SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets WHERE topic = :events_topic) AS consumed
"""


def _queries(nhi: str) -> dict[str, tuple[str, dict[str, object]]]:
    out: dict[str, tuple[str, dict[str, object]]] = {
        "events": ("SELECT * FROM events ORDER BY id", {}),
        "history": ("SELECT * EXCLUDE (recorded_at) FROM finding_history ORDER BY history_id", {}),
        "by-param": ("SELECT id, time, context FROM events WHERE nhi = :nhi ORDER BY id", {"nhi": nhi}),
        "types": (
            "SELECT 12345678901234567890::HUGEINT AS h, interval 3 day AS i, NULL AS n, 1 AS a, 2 AS a",
            {},
        ),
        "multi": ("SELECT 1; SELECT count(*) AS n FROM trust_scores", {}),
    }
    for name, q in load_named_queries().items():
        params = {p.name: nhi for p in q.params if p.required}
        out[f"named:{name}"] = (q.sql, q.bind(params))
    return out


@pytest.fixture
def running_sink(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Topics]]:
    topics = Topics(prefix=unique_name("qwr") + ".", partitions=3)
    db = tmp_path / "evidence.duckdb"
    args = ["sink", "-b", kafka_bootstrap, "--topic-prefix", topics.prefix, "--db", str(db), "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "nhi", *args], cwd=REPO_ROOT, env={**os.environ})
    try:
        while run_remote(db, "SELECT 1") is None:  # the sink created the topics and announced itself
            assert proc.poll() is None, "the sink exited early"
            time.sleep(0.05)
        yield proc, db, topics
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def test_query_while_the_sink_holds_the_store(
    running_sink: tuple[subprocess.Popen[bytes], Path, Topics], kafka_bootstrap: str
) -> None:
    proc, db, topics = running_sink
    records = dataset(20).records(topics)
    # Feed the running sink in slices and ask between them: every answer is a committed state.
    step = max(1, len(records) // 15)
    for start in range(0, len(records), step):
        produce_records(kafka_bootstrap, records[start : start + step])
        got = run_remote(db, CONSISTENT, {"events_topic": topics.events})
        assert got is not None
        stored, consumed = got.rows[0]
        assert stored == consumed
    sql = "SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets"
    while (got := run_remote(db, sql)) is None or got.rows[0][0] < len(records):
        assert proc.poll() is None
        time.sleep(0.05)

    # The file itself is locked, so a direct read fails and nhi query's fallback goes to the sink.
    with pytest.raises(StoreError, match="locked"):
        run_query(db, "SELECT 1")
    assert execute(str(db), "SELECT count(*) AS n FROM events", {}).rows[0][0] > 0

    info = orjson.loads(server_file(db).read_bytes())
    assert info["pid"] == proc.pid and oct(server_file(db).stat().st_mode & 0o777) == "0o600"

    queries = _queries(str(dataset(20).events[0].nhi))
    remote = {name: run_remote(db, sql, params) for name, (sql, params) in queries.items()}

    refused = {}
    for sql in (
        "DELETE FROM events",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET threads = 1",
        "SELECT :x",
    ):
        with pytest.raises(QueryError) as caught:
            run_remote(db, sql)
        refused[sql] = str(caught.value)
    forged = dict(info, token="not-the-token")
    server_file(db).write_bytes(orjson.dumps(forged))
    with pytest.raises(QueryError, match="token"):
        run_remote(db, "SELECT 1")
    server_file(db).write_bytes(orjson.dumps(info))

    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert not server_file(db).exists()
    assert run_remote(db, "SELECT 1") is None

    # After the sink stopped, the file answers directly: the same results, types and renderings.
    for name, (sql, params) in queries.items():
        local = run_query(db, sql, params)
        got_remote = remote[name]
        assert isinstance(got_remote, QueryResult), name
        if name == "types":
            assert got_remote.types == local.types and got_remote.columns == local.columns
            assert got_remote.rows[0] == local.rows[0]
            continue
        assert got_remote == local, name
        for fmt, render in RENDERERS.items():
            assert render(got_remote) == render(local), (name, fmt)
    for sql, message in refused.items():
        with pytest.raises(QueryError) as caught:
            run_query(db, sql)
        assert str(caught.value) == message
