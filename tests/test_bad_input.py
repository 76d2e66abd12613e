"""Bad input loses nothing: damaged files, odd encodings and envelopes, and a run stopped halfway.

Each kind of bad input in docs/formats.md ("Bad input") has its test here.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest import sources
from ingest.collect import Collector
from ingest.sources import HEAD_KEPT, RawRecord, read_lines, read_path
from nhi.cli import main
from store.store import Store
from tests.real_datasets import dataset_file
from tests.test_engine_semantics import story

NATIVE = story()


def lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def parse(
    path: Path, fmt: str = "auto", limit: int = sources.DEFAULT_LIMIT
) -> tuple[list[Event], list[Reject]]:
    events: list[Event] = []
    rejects: list[Reject] = []
    for item in Collector(fmt, Settings()).run(read_path(path, limit)):
        (rejects if isinstance(item, Reject) else events).append(item)  # type: ignore[arg-type]
    return events, rejects


def replay(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    code = main(["replay", "--db", str(db), "-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- damaged files ------------------------------------------------------------------------------


def test_a_truncated_gzip_after_a_good_one_keeps_both_files_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = dataset_file("cloudtrail/panther-rule-tests.jsonl").read_bytes()
    good, cut = tmp_path / "good.json.gz", tmp_path / "cut.json.gz"
    good.write_bytes(gzip.compress(real))
    cut.write_bytes(gzip.compress(real)[:3000])
    db = tmp_path / "e.duckdb"
    code, out, err = replay(capsys, db, "--format", "auto", str(good), str(cut))
    assert code == 0 and "Traceback" not in err
    with Store.open(db, read_only=True) as store:
        stored = store.rows("SELECT count(*) FROM events")[0][0]
        damage = store.rows("SELECT location, reason FROM rejects WHERE reason LIKE 'input damaged%'")
        rejected = store.rows("SELECT count(*) FROM rejects")[0][0]
    good_events, _ = parse(good)
    assert stored == len({e.id for e in good_events})  # every event of the good file, none lost
    ((location, reason),) = damage
    assert location.startswith(f"{cut}:") and "compressed data ends early" in reason
    assert f"rejects {rejected} " in out  # the summary counts what the store holds


def test_a_corrupt_gzip_is_one_reject_at_its_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"not deflate data at all")
    events, rejects = parse(bad)
    assert events == [] and len(rejects) == 1
    assert rejects[0].location == f"{bad}:1" and "damaged" in rejects[0].reason


def test_an_unreadable_file_is_a_reject_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked, fine = tmp_path / "locked.jsonl", tmp_path / "fine.jsonl"
    locked.write_bytes(lines(NATIVE))
    fine.write_bytes(lines(NATIVE[:2]))
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)  # root reads a chmod 000 file anyway
    db = tmp_path / "e.duckdb"
    code, out, err = replay(capsys, db, str(locked), str(fine))
    assert code == 0 and "rejects 1" in out and "Traceback" not in err
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT location, reason FROM rejects") == [
            (str(locked), f"can't read {locked}: Permission denied")
        ]
        assert store.rows("SELECT count(*) FROM events") == [(2,)]


def test_a_read_error_mid_file_ends_that_file_with_a_reject() -> None:
    class Failing(io.BytesIO):
        def readline(self, size: int | None = -1, /) -> bytes:
            line = super().readline(size)
            if self.tell() > 200:
                raise OSError(5, "Input/output error")
            return line

    out = list(read_lines(Failing(lines(NATIVE)), "disk"))
    assert [r.damage for r in out[:-1]] == [None] * (len(out) - 1)
    assert out[-1].location == f"disk:{len(out)}" and "read failed: Input/output error" in (
        out[-1].damage or ""
    )


# --- size limit ---------------------------------------------------------------------------------


class Endless:
    """A stream with one enormous line, produced lazily: the reader must never hold it whole."""

    def __init__(self, size: int, rest: bytes) -> None:
        self.left = size
        self.rest = io.BytesIO(rest)
        self.largest = 0

    def readline(self, size: int = -1, /) -> bytes:
        assert size > 0, "an unbounded readline would hold the whole line"
        if self.left:
            n = min(size, self.left)
            self.left -= n
            out = b"x" * n if self.left else b"x" * (n - 1) + b"\n"
        else:
            out = self.rest.readline(size)
        self.largest = max(self.largest, len(out))
        return out


def test_a_line_over_the_limit_is_skipped_in_bounded_chunks() -> None:
    stream = Endless(50_000_000, lines(NATIVE[:1]))
    out = list(read_lines(stream, "big", limit=4096))
    assert stream.largest <= sources._CHUNK  # read in chunks, never the 50 MB line at once
    first, second = out
    assert first.location == "big:1" and "50000000 bytes" in (first.damage or "")
    assert "NHI_MAX_RECORD_BYTES" in (first.damage or "")
    assert len(first.raw) < HEAD_KEPT + 100 and first.raw.endswith(b"more bytes not kept]")
    assert second.location == "big:2" and second.value["type"] == "identity.registered"


def test_the_size_limit_reaches_replay_through_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "s.jsonl"
    secret = "ghp_" + "Q" * 20 + "w1" * 8
    huge = orjson.dumps({"type": "credential.used", "note": "x" * 5000, "token": secret})
    src.write_bytes(lines(NATIVE[:2]) + huge + b"\n" + lines(NATIVE[2:4]))
    monkeypatch.setenv("NHI_MAX_RECORD_BYTES", "2000")
    db = tmp_path / "e.duckdb"
    code, _, _ = replay(capsys, db, str(src))
    assert code == 0
    with Store.open(db, read_only=True) as store:
        ((location, reason, raw),) = store.rows("SELECT location, reason, raw FROM rejects")
        assert store.rows("SELECT count(*) FROM events") == [(4,)]
    assert location == f"{src}:3" and "over the limit of 2000 bytes" in reason
    assert secret not in raw


def test_a_document_over_the_limit_is_one_reject(tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    doc.write_bytes(b"{\n" + b'  "Records": [' + b",".join([b'{"a": 1}'] * 2000) + b"]\n}\n")
    events, rejects = parse(doc, limit=1000)
    assert events == [] and len(rejects) == 1 and "over the limit" in rejects[0].reason


# --- encodings and envelopes ----------------------------------------------------------------------


def test_a_byte_order_mark_costs_nothing(tmp_path: Path) -> None:
    f = tmp_path / "bom.jsonl"
    f.write_bytes(sources.BOM + lines(NATIVE[:3]))
    events, rejects = parse(f, "native")
    assert len(events) == 3 and rejects == []


def test_a_bom_before_a_pretty_printed_document(tmp_path: Path) -> None:
    f = tmp_path / "bom.json"
    f.write_bytes(sources.BOM + orjson.dumps({"Records": NATIVE[:3]}, option=orjson.OPT_INDENT_2))
    events, rejects = parse(f, "native")
    assert len(events) == 3 and rejects == []


def test_utf16_text_is_read(tmp_path: Path) -> None:
    f = tmp_path / "powershell.jsonl"
    f.write_bytes(lines(NATIVE[:3]).decode().encode("utf-16"))
    events, rejects = parse(f, "native")
    assert len(events) == 3 and rejects == []


@pytest.mark.parametrize(
    "wrap",
    [
        lambda rs: rs,  # a JSON array
        lambda rs: {"Records": rs},  # CloudTrail
        lambda rs: {"records": rs},  # Azure diagnostic settings export (Entra)
        lambda rs: {
            "@odata.context": "https://graph/$metadata",
            "value": rs,
            "@odata.nextLink": "n",
        },  # Graph
    ],
)
@pytest.mark.parametrize("pretty", [False, True])
def test_arrays_and_envelopes_are_one_record_per_item(tmp_path: Path, wrap: Any, pretty: bool) -> None:
    f = tmp_path / "wrapped.json"
    f.write_bytes(orjson.dumps(wrap(NATIVE[:3]), option=orjson.OPT_INDENT_2 if pretty else 0) + b"\n")
    events, rejects = parse(f, "native")
    assert len(events) == 3 and rejects == []


def test_a_record_with_a_value_list_is_not_an_envelope() -> None:
    (rec,) = list(read_lines([b'{"value": [1, 2], "time": "2026-01-01T00:00:00Z"}'], "t"))
    assert rec.location == "t:1" and rec.value["value"] == [1, 2]


@pytest.mark.parametrize(
    ("folder", "fmt", "wrap"),
    [
        ("azure_entra", "entra", lambda rs: {"records": rs}),
        ("azure_entra", "entra", lambda rs: {"value": rs, "@odata.context": "x"}),
        ("okta", "okta", lambda rs: rs),
    ],
)
def test_real_vendor_exports_in_their_envelopes(tmp_path: Path, folder: str, fmt: str, wrap: Any) -> None:
    src = dataset_file(f"{folder}/panther-rule-tests.jsonl")
    records = [orjson.loads(line) for line in src.read_bytes().splitlines() if line.strip()]
    plain_events, plain_rejects = parse(src, fmt)
    f = tmp_path / "export.json"
    f.write_bytes(orjson.dumps(wrap(records), option=orjson.OPT_INDENT_2))
    events, rejects = parse(f, fmt)
    assert len(events) == len(plain_events) > 0
    assert len(rejects) == len(plain_rejects)


# --- runs stopped halfway ----------------------------------------------------------------------------


def _stored(db: Path) -> dict[str, Any]:
    with Store.open(db, read_only=True) as store:
        return {
            "events": sorted(store.rows("SELECT id FROM events")),
            "findings": sorted(store.rows("SELECT finding_id, status, reason, evidence FROM findings")),
            "history": sorted(store.rows("SELECT history_id, activity, status FROM finding_history")),
            "trust": sorted(store.rows("SELECT nhi, event_id, score, previous FROM trust_scores")),
            "identities": sorted(
                store.rows("SELECT nhi, owner_status, trust, open_findings FROM identities")
            ),
        }


@pytest.mark.parametrize(
    ("batch", "stop_at"),
    [
        ("4", 1),  # the first file's last chunk is only committed by the end-of-file checkpoint
        ("2", 4),  # chunks of the second file were stored, unjudged by any saved state, before the stop
    ],
)
def test_ctrl_c_keeps_finished_files_and_a_rerun_ends_where_a_clean_run_does(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    batch: str,
    stop_at: int,
) -> None:
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    first.write_bytes(lines(NATIVE[:6]))
    second.write_bytes(lines(NATIVE[6:]))
    monkeypatch.setenv("NHI_BATCH_SIZE", batch)
    clean = tmp_path / "clean.duckdb"
    assert replay(capsys, clean, str(first), str(second))[0] == 0

    real_read_path = sources.read_path

    def interrupted(path: Path, limit: int = sources.DEFAULT_LIMIT) -> Iterator[RawRecord]:
        for i, rec in enumerate(real_read_path(path, limit)):
            if path == second and i == stop_at:
                raise KeyboardInterrupt
            yield rec

    monkeypatch.setattr(sources, "read_path", interrupted)
    db = tmp_path / "e.duckdb"
    code, _, err = replay(capsys, db, str(first), str(second))
    assert code == 130 and "interrupted" in err
    with Store.open(db, read_only=True) as store:
        kept = {r[0] for r in store.rows("SELECT id FROM events")}
    first_ids = {e.id for e in parse(first, "native")[0]}
    assert first_ids <= kept  # the finished file is kept (and any chunk written after it)

    monkeypatch.setattr(sources, "read_path", real_read_path)
    code, _, _ = replay(capsys, db, str(first), str(second))
    assert code == 0
    assert _stored(db) == _stored(clean)


def test_duplicates_within_one_run_are_counted_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "dup.jsonl"
    src.write_bytes(lines(NATIVE[:4]) + lines(NATIVE[1:2]))
    code, out, _ = replay(capsys, tmp_path / "e.duckdb", str(src))
    assert code == 0 and "events 5 (stored 4, already stored or repeated 1)" in out
