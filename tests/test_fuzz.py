"""Fuzzing every parser with mutated real records: no exception escapes, every record becomes
events or a reject with a reason, and what comes out can be stored.

Records come from the real public samples (``../shared/datasets``) and, for the formats those
lack, the project's own samples. Each example takes one record and damages it the way real input
gets damaged: fields deleted, types swapped, values nested deeply, huge numbers, NaN, null bytes,
invalid UTF-8, confusable Unicode, cut lines.

The CI share is small (``NHI_FUZZ_EXAMPLES``, default 25 examples per format and kind of damage,
about 20 s). For a long local run::

    NHI_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.ingest_bench import OCSF_RECORDS, SPIRE_LINES
from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.formats import FORMATS
from ingest.sources import BOM, envelope_items, read_lines
from store.columns import events_table, rejects_table
from tests.real_datasets import dataset_file
from tests.test_engine_semantics import story

EXAMPLES = int(os.environ.get("NHI_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 25,  # the CI share is the same every run; long runs explore
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VAULT = Path(__file__).parent / "data" / "vault" / "audit.jsonl"

SAMPLES = {
    "cloudtrail": ["cloudtrail/panther-rule-tests.jsonl", "cloudtrail/awsdocs-iam-user-guide-examples.jsonl"],
    "k8s-audit": ["k8saudit/falco-trace-files.jsonl", "aks_kube_audit/panther-rule-tests.jsonl"],
    "gcp-audit": ["gcpaudit/panther-rule-tests.jsonl"],
    "entra": ["azure_entra/panther-rule-tests.jsonl"],
    "okta": ["okta/panther-rule-tests.jsonl"],
    "github-audit": ["github_audit/panther-rule-tests.jsonl"],
}


def _records(fmt: str) -> list[bytes]:
    if fmt == "spire":
        return [line.encode() for line in SPIRE_LINES]
    if fmt == "ocsf":
        return [orjson.dumps(r) for r in OCSF_RECORDS]
    if fmt == "native":
        return [orjson.dumps(r) for r in story()]
    files = [VAULT] if fmt == "vault-audit" else [dataset_file(rel) for rel in SAMPLES[fmt]]
    return [line for f in files for line in f.read_bytes().splitlines() if line.strip()][:400]


def test_every_format_has_samples() -> None:
    assert set(FORMATS) == {*SAMPLES, "spire", "ocsf", "native", "vault-audit"}


# --- damage ------------------------------------------------------------------------------------

CONFUSABLE = str.maketrans(
    "aeopcxyiAEOPCXHKMT",
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0410\u0415\u041e\u0420\u0421\u0425\u041d\u041a\u041c\u0422",
)  # Latin -> Cyrillic look-alikes
ODD_VALUES = [
    None, True, 0, -1, 10**30, -(10**30), 2**64, 1e308, -1e-308, "", "\x00", "a\x00b", "\u202etxt.exe",
    "\u200b", "\U0001d51e\U0001d51f\U0001d520", "x" * 5000, [], {}, [None], {"": None}, "NaN", "9999-99-99T99:99:99Z", "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "-1", "1e999",
]  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the node at ``path`` replaced (``_DELETE`` removes it)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if rest or new is not _DELETE:
            copy[head] = _replace(value[head], rest, new)
        else:
            del copy[head]
        return copy
    copy_list = list(value)
    if rest or new is not _DELETE:
        copy_list[head] = _replace(value[head], rest, new)
    else:
        del copy_list[head]
    return copy_list


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


_DELETE: Any = object()


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"n": value}
    return value


def _confuse(value: Any) -> Any:
    if isinstance(value, str):
        return value.translate(CONFUSABLE)
    if isinstance(value, dict):
        return {k.translate(CONFUSABLE) if k[:1] == "t" else k: _confuse(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_confuse(v) for v in value]
    return value


@st.composite
def damaged_value(draw: st.DrawFn, record: Any) -> bytes:
    """The record, decoded, with one or more nodes deleted, swapped, nested or made confusable."""
    value = record
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["delete", "swap", "nest", "confuse", "dup-key-types"]))
        if kind == "delete" and path:
            value = _replace(value, path, _DELETE)
        elif kind == "swap":
            value = _replace(value, path, draw(st.sampled_from(ODD_VALUES)))
        elif kind == "nest":
            node = _get(value, path)
            value = _replace(value, path, _nest(node, draw(st.integers(1, 300)), draw(st.booleans())))
        elif kind == "confuse":
            value = _replace(value, path, _confuse(_get(value, path)))
        elif isinstance(_get(value, path), dict):
            node = dict(_get(value, path))
            node[draw(st.sampled_from(["time", "eventTime", "type", "id", "nhi", "timestamp"]))] = draw(
                st.sampled_from(ODD_VALUES)
            )
            value = _replace(value, path, node)
    if isinstance(value, str):  # a text format's line (SPIRE): damaged as text
        return value.encode("utf-8", "surrogatepass")
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # nested past orjson's limit: the text form still is input
        return repr(value).encode("utf-8", "surrogatepass")


@st.composite
def damaged_bytes(draw: st.DrawFn, line: bytes) -> bytes:
    """The raw line with bytes damaged: cut, invalid UTF-8, null bytes, NaN / Infinity tokens."""
    data = bytearray(line)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["cut", "utf8", "null", "nan", "flip", "bom"]))
        if kind == "cut":
            del data[at:]
        elif kind == "utf8":
            data[at:at] = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
        elif kind == "null":
            data[at:at] = b"\x00"
        elif kind == "nan":
            colon = data.find(b":", at)
            if colon >= 0:
                data[colon + 1 : colon + 1] = draw(
                    st.sampled_from([b"NaN,", b"Infinity,", b"-Infinity,", b"1e400,"])
                )
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "bom":
            data[at:at] = b"\xef\xbb\xbf"
    return bytes(data)


# --- the property ----------------------------------------------------------------------------------


def check(fmt: str, line: bytes) -> None:
    """Through the format's collector and through auto: events or rejects with a reason, no
    exception, no parser crash, and storable output."""
    for name in (fmt, "auto"):
        collector = Collector(name, Settings())
        out = list(collector.run(read_lines([line], "fuzz")))
        events = [o for o in out if isinstance(o, Event)]
        rejects = [o for o in out if isinstance(o, Reject)]
        assert len(events) + len(rejects) == len(out)
        if collector.records == 0:  # nothing to account for: a blank line, or an empty array / envelope
            text = line.strip().removeprefix(BOM).strip()
            assert not text or envelope_items(orjson.loads(text)) == [], line
        for r in rejects:
            assert r.reason.strip() and r.location and r.location.startswith("fuzz:")
            # a parser that fails by accident instead of refusing the record is a bug to fix
            assert not r.reason.startswith("parser error"), (name, r.reason, line[:300])
        events_table(events)  # what the store inserts: must convert
        rejects_table(rejects)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_damaged_values(fmt: str) -> None:
    records = _records(fmt)

    @FUZZ
    @given(
        st.sampled_from(records).flatmap(
            lambda line: damaged_value(orjson.loads(line) if fmt != "spire" else line.decode())
        )
    )
    def run(line: bytes) -> None:
        check(fmt, line)

    run()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_damaged_bytes(fmt: str) -> None:
    records = _records(fmt)

    @FUZZ
    @given(st.sampled_from(records).flatmap(damaged_bytes))
    def run(line: bytes) -> None:
        check(fmt, line)

    run()


def test_fuzzed_records_store_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file of damaged records of every format replays into a real store: exit 0, no traceback,
    and every record is accounted for as events or a reject."""
    from hypothesis import find

    from nhi.cli import main
    from store.store import Store

    lines: list[bytes] = []
    for fmt in sorted(FORMATS):
        for record in _records(fmt)[:5]:
            value = orjson.loads(record) if fmt != "spire" else record.decode()
            lines.append(find(damaged_value(value), lambda _: True))
            lines.append(find(damaged_bytes(record), lambda _: True))
    src = tmp_path / "fuzzed.jsonl"
    src.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    db = tmp_path / "f.duckdb"
    assert main(["replay", "--db", str(db), "--format", "auto", "-q", str(src)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    with Store.open(db, read_only=True) as store:
        rejects = store.rows("SELECT count(*) FROM rejects")[0][0]
    assert rejects >= 1 and f"rejects {rejects} " in out
