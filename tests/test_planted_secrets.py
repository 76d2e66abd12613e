"""A planted secret is nowhere: under every spelling of a secret key and every nesting (dicts in
lists, deep dicts, JSON inside strings, JSON inside JSON inside strings, free text), and by shape
under a neutral key, in records of every format, accepted and rejected alike. The planted value
appears in no event, no reject, no DuckDB cell and no Kafka record (ingest -> events and DLQ
topics, the worker's and the sink's topics, the sink's store)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings, load_settings
from ingest.collect import Collector
from ingest.formats import FORMATS
from ingest.sources import read_lines
from nhi.cli import main
from store.store import TABLES, Store
from tests.kafka_helpers import read_topics
from tests.test_fuzz import _records
from tests.worker_harness import wait_done
from transport.admin import ensure_topics
from transport.sink import run_sink
from transport.topics import Topics

SPELLINGS = [
    "sessionToken", "SessionToken", "session_token", "x-amz-security-token", "X-Amz-Security-Token",
    "client_secret", "clientSecret", "password", "Password", "Authorization", "SAMLResponse", "samlAssertion",
    "privateKeyData", "secretAccessKey", "api_key", "x-api-key", "cookie", "Set-Cookie", "x-vault-token",
    "refresh_token", "passwd", "private_key", "db_password", "client_assertion",
]  # fmt: skip
NESTINGS = ["top", "every-dict", "list-of-dicts", "deep", "json-in-string", "json-twice", "free-text"]
SHAPES = [
    "github",
    "github-pat",
    "jwt",
    "pem",
    "aws-secret",
    "aws-session",
    "slack",
    "okta",
    "vault",
    "gcp-key",
]


def key_secret(token: str) -> str:
    """A secret with no recognisable shape: only its key gives it away."""
    return "Zq" + token


def shaped(kind: str, token: str) -> tuple[str, str]:
    """(the value to plant, the secret it holds) for a secret found by its shape."""
    # random-looking material, as real keys are (a repeated pattern has too little entropy to be one)
    material = base64.b64encode(hashlib.sha512(token.encode()).digest() * 2).decode()
    mixed = "".join(c for c in material if c.isalnum())
    if kind == "github":
        return (s := "ghp_" + mixed[:36]), s
    if kind == "github-pat":
        return (s := "github_pat_" + mixed[:22] + "_" + mixed[:40]), s
    if kind == "jwt":
        body = base64.urlsafe_b64encode(orjson.dumps({"sub": token})).decode().rstrip("=")
        return (s := f"eyJhbGciOiJIUzI1NiJ9.{body}.{mixed[:20]}"), s
    if kind == "pem":
        body = mixed[:64]
        return (s := f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"), body
    if kind == "aws-secret":
        return (s := (mixed[:17] + "/7" + mixed[17:]) [:38] + "9Q"), s  # fmt: skip
    if kind == "aws-session":
        return (s := "IQoJb3JpZ2luX2Vj" + mixed[:40]), s
    if kind == "slack":
        return (s := "xoxb-1234567890-1234567890-" + mixed[:24]), s
    if kind == "okta":
        return "SSWS 00" + mixed[:40], "00" + mixed[:40]
    if kind == "vault":
        return (s := "hvs." + mixed[:40]), s
    key = {"type": "service_account", "private_key_id": token, "private_key": f"-----BEGIN PRIVATE KEY-----\n{mixed[:64]}\n-----END PRIVATE KEY-----"}  # fmt: skip
    return base64.b64encode(orjson.dumps(key, option=orjson.OPT_INDENT_2)).decode(), mixed[:64]


def fragment(key: str, value: str, nesting: str) -> dict[str, Any]:
    if nesting in ("top", "every-dict"):
        return {key: value}
    if nesting == "list-of-dicts":
        return {"plantList": [{"x": 1}, {key: value}]}
    if nesting == "deep":
        return {"plantDeep": {"a": {"b": [{"c": {key: value}}]}}}
    if nesting == "json-in-string":
        return {"plantJson": orjson.dumps({key: value}).decode()}
    if nesting == "json-twice":
        return {"plantJson2": orjson.dumps({"inner": orjson.dumps({key: value}).decode()}).decode()}
    return {"plantMessage": f"request failed: {key}={value} retrying"}


def plant(record: Any, extra: dict[str, Any], everywhere: bool) -> Any:
    if isinstance(record, dict):
        out = {k: plant(v, extra, everywhere) if everywhere else v for k, v in record.items()}
        out.update(extra)
        return out
    if isinstance(record, list) and everywhere:
        return [plant(v, extra, everywhere) for v in record]
    return record


def planted_line(fmt: str, record: bytes, key: str, value: str, nesting: str, mode: str) -> bytes:
    """One record of ``fmt`` carrying the plant; ``mode``: as is, made invalid, or cut short."""
    if fmt == "spire":  # a text format: logfmt pairs and a JSON message
        text = record.decode()
        if nesting in ("json-in-string", "json-twice", "list-of-dicts", "deep"):
            line = (
                text + " msg=" + orjson.dumps(orjson.dumps(fragment(key, value, nesting)).decode()).decode()
            )
        else:
            line = text + f' {key}="{value}"'.replace("\n", "\\n")  # logfmt escapes newlines
    else:
        decoded = orjson.loads(record)
        doc = plant(decoded, fragment(key, value, nesting), nesting == "every-dict")
        if mode == "invalid" and isinstance(doc, dict):
            doc = {k: v for k, v in doc.items() if k not in ("time", "eventTime", "timestamp", "published", "@timestamp", "requestReceivedTimestamp", "receiveTimestamp", "createdDateTime", "activityDateTime", "created_at", "@timestamp")}  # fmt: skip
            doc["type"] = 42
        line = orjson.dumps(doc).decode()
    if mode == "cut":
        line = line[: max(line.rfind(value[-4:]) + 4, len(line) - 3)]  # never inside the secret
    return line.encode()


def cases(token: str) -> list[tuple[str, str, str]]:
    """(key, value to plant, the secret) for every spelling and every shape."""
    out = []
    for spelling in SPELLINGS:
        secret = key_secret(token)
        value = f"Bearer {secret}" if spelling.lower() == "authorization" else secret
        out.append((spelling, value, secret))
    for kind in SHAPES:
        value, secret = shaped(kind, token)
        out.append(("note", value, secret))
    return out


def outputs(fmt: str, line: bytes) -> tuple[list[Event], list[Reject]]:
    events: list[Event] = []
    rejects: list[Reject] = []
    for name in (fmt, "auto"):
        for item in Collector(name, Settings()).run(read_lines([line], "planted")):
            (rejects if isinstance(item, Reject) else events).append(item)  # type: ignore[arg-type]
    return events, rejects


def leaks(secret: str, events: list[Event], rejects: list[Reject]) -> list[str]:
    found = [f"event {e.id}" for e in events if secret in orjson.dumps(e.to_json_dict()).decode()]
    found += [f"reject {r.location}" for r in rejects if secret in f"{r.raw}\x00{r.reason}\x00{r.location}"]
    return found


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(FORMATS)),
    which=st.integers(0, 10_000),
    case=st.integers(0, len(SPELLINGS) + len(SHAPES) - 1),
    nesting=st.sampled_from(NESTINGS),
    mode=st.sampled_from(["as-is", "invalid", "cut"]),
    token=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=24, max_size=24),
)
def test_a_planted_secret_reaches_no_event_and_no_reject(
    fmt: str, which: int, case: int, nesting: str, mode: str, token: str
) -> None:
    records = _records(fmt)
    key, value, secret = cases(token)[case]
    line = planted_line(fmt, records[which % len(records)], key, value, nesting, mode)
    events, rejects = outputs(fmt, line)  # a record may also give neither (noise the parser skips)
    assert not leaks(secret, events, rejects), (fmt, key, nesting, mode, line[:400])


def corpus(token: str) -> tuple[bytes, list[str]]:
    """Every format x every spelling and shape x every nesting, accepted, invalid and cut."""
    lines, planted = [], []
    for fmt in sorted(FORMATS):
        records = _records(fmt)
        for i, (key, value, secret) in enumerate(cases(token)):
            for j, nesting in enumerate(NESTINGS):
                for mode in ("as-is", "invalid", "cut"):
                    record = records[(i * 7 + j) % len(records)]
                    lines.append(planted_line(fmt, record, key, value, nesting, mode))
            planted.append(secret)
    return b"\n".join(lines) + b"\n", sorted(set(planted))


def store_cells(db: Path) -> bytes:
    """Every cell of every table, as bytes (BLOBs, the engine state among them, as they are)."""
    parts: list[bytes] = []
    with Store.open(db, read_only=True) as store:
        for table in TABLES:
            for row in store.rows(f"SELECT * FROM {table}"):
                for cell in row:
                    parts.append(bytes(cell) if isinstance(cell, bytes | bytearray) else repr(cell).encode())
    return b"\x00".join(parts)


def test_planted_secrets_are_in_no_duckdb_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, planted = corpus(secrets.token_hex(12))
    src = tmp_path / "planted.jsonl"
    src.write_bytes(data)
    db = tmp_path / "e.duckdb"
    assert main(["replay", "--db", str(db), "--format", "auto", "-q", str(src)]) == 0
    capsys.readouterr()
    with Store.open(db, read_only=True) as store:
        counts = store.counts()
    assert counts["events"] > 500 and counts["rejects"] > 500  # accepted and rejected records both
    cells = store_cells(db)
    assert b"fp:" in cells
    leaked = [s for s in planted if s.encode() in cells]
    assert not leaked, f"{len(leaked)} planted secrets reached the store, e.g. {leaked[0][:20]}"


@pytest.mark.kafka
def test_planted_secrets_are_in_no_kafka_record_and_no_sink_cell(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.worker import run_worker

    monkeypatch.setenv("NHI_TOPIC_PARTITIONS", "2")
    topics = Topics(prefix=unique_name("plant") + ".", partitions=2)
    data, planted = corpus(secrets.token_hex(12))
    src = tmp_path / "planted.jsonl"
    src.write_bytes(data)
    args = [
        "ingest",
        "--bootstrap",
        kafka_bootstrap,
        "--topic-prefix",
        topics.prefix,
        "--format",
        "auto",
        "-q",
    ]
    assert main([*args, str(src)]) == 0
    db = tmp_path / "sink.duckdb"
    app_id = unique_name("worker")

    async def go() -> None:
        await ensure_topics(kafka_bootstrap, topics)
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(kafka_bootstrap, topics, load_settings(), stop, app_id=app_id)
        )
        sink = asyncio.create_task(
            run_sink(kafka_bootstrap, str(db), topics, f"{app_id}-sink", stop, query_port=None)
        )
        try:
            await wait_done(kafka_bootstrap, topics, app_id, f"{app_id}-sink")
        finally:
            stop.set()
            await asyncio.gather(worker, sink)

    asyncio.run(go())
    got = asyncio.run(read_topics(kafka_bootstrap, topics.all()))
    assert got[topics.events] and got[topics.dlq] and got[topics.findings] and got[topics.trust]
    everything = b"\x01".join(m.all_bytes() for msgs in got.values() for m in msgs)
    assert b"fp:" in everything
    leaked = [s for s in planted if s.encode() in everything]
    assert not leaked, f"{len(leaked)} planted secrets reached Kafka, e.g. {leaked[0][:20]}"
    cells = store_cells(db)
    leaked = [s for s in planted if s.encode() in cells]
    assert not leaked, f"{len(leaked)} planted secrets reached the sink's store, e.g. {leaked[0][:20]}"
