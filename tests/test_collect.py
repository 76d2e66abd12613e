"""The collector's loop for a fixed format gives what its general ``parse`` gives, record by record:
the same events, the same rejects (reason, location, scrubbed raw) and the same counts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.formats import FORMATS
from ingest.parsing import Format, ParseContext
from ingest.sources import RawRecord, read_lines, read_path
from tests.real_datasets import datasets_dir

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "k8s-audit": ["k8saudit", "aks_kube_audit"],
    "gcp-audit": ["gcpaudit"],
    "cloudtrail": ["cloudtrail"],
    "entra": ["azure_entra"],
    "okta": ["okta"],
    "github-audit": ["github_audit"],
}
# Lines no parser can use, in every way a record can fail before its parser sees it.
ODD_LINES = [b"{not json", b"[]", b'"text"', b"{}", b'{"token": "s3cr3t-value-1234"}']


def _as_rows(out: Iterable[Event | Reject]) -> list[Any]:
    return [
        ("event", e.to_json_dict())
        if isinstance(e, Event)
        else ("reject", e.raw, e.reason, e.source, e.location)
        for e in out
    ]


def _one_by_one(collector: Collector, records: Iterable[RawRecord]) -> list[Any]:
    out: list[Event | Reject] = []
    for rec in records:
        got = collector.parse(rec)
        out.extend([got] if isinstance(got, Reject) else got)
    return _as_rows(out)


def _compare(fmt: str, records: list[RawRecord], settings: Settings) -> Collector:
    fast, slow = Collector(fmt, settings), Collector(fmt, settings)
    assert _as_rows(fast.run(records)) == _one_by_one(slow, records)
    assert (fast.records, fast.events, fast.rejects, fast.skipped) == (
        slow.records,
        slow.events,
        slow.rejects,
        slow.skipped,
    )
    return fast


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_fixed_format_loop_matches_parse_on_real_files(fmt: str) -> None:
    root = datasets_dir()
    paths = sorted(p for folder in FILES[fmt] for p in (root / folder).rglob("*.jsonl"))
    assert paths
    records = [rec for path in paths for rec in read_path(path)]
    records += list(read_lines(ODD_LINES, "odd"))
    collector = _compare(fmt, records, Settings())
    assert collector.events > 0 and collector.rejects >= len(ODD_LINES)


def test_fixed_format_loop_matches_parse_on_text_and_vault() -> None:
    spire = [
        b'time="2025-02-03T23:34:01Z" level=debug msg="Signed X509 SVID" expiration="2025-02-04T00:34:01Z" '
        b'spiffe_id="spiffe://example.com/workload" subsystem_name=api',
        b"not a spire line",
        b'{"json": "but not spire"}',
    ]
    _compare("spire", list(read_lines(spire, "spire")), Settings())
    vault = ROOT / "tests" / "data" / "vault" / "audit.jsonl"
    _compare("vault-audit", [*read_path(vault), *read_lines(ODD_LINES, "odd")], Settings())


def test_a_parser_bug_is_a_reject_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: Any, ctx: ParseContext) -> list[Event]:
        raise KeyError("oops")

    real = FORMATS["native"]
    monkeypatch.setitem(FORMATS, "native", Format(real.name, real.description, broken, real.sniff))
    records = list(read_lines([b'{"type": "task.ended", "time": "2025-01-01T00:00:00Z"}'], "bug"))
    collector = _compare("native", records, Settings())
    assert collector.rejects == 1
