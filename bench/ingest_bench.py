"""Collector throughput per format against raw ``orjson.loads`` of the same lines (the ceiling).

Inputs are the real public samples in ``../shared/datasets`` (and the project's own Vault,
SPIRE and OCSF samples), repeated until each format has ``--records`` lines; native lines come
from the synthetic organisation. The rate counts records through parse, validation and secret
scrubbing, events and rejects alike.

Each row also gives ``floor_ratio``: the ratio of the same harness with a parser that only hashes
the record (for event ids) and builds as many events as the real one. It bounds what any parser
of this design can reach, and so tells parser work from harness and event-model work.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.report import row
from contract.events import Event, EventType
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.formats import FORMATS
from ingest.parsing import Format, ParseContext
from ingest.sources import read_lines
from ingest.toolkit.build import new_event, record_hash
from synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"

SOURCES: dict[str, list[Path]] = {
    "k8s-audit": [
        DATASETS / "k8saudit" / "falco-trace-files.jsonl",
        DATASETS / "k8saudit" / "panther-rule-tests.jsonl",
        DATASETS / "aks_kube_audit" / "panther-rule-tests.jsonl",
    ],
    "cloudtrail": [DATASETS / "cloudtrail" / "panther-rule-tests.jsonl"],
    "gcp-audit": [DATASETS / "gcpaudit" / "panther-rule-tests.jsonl"],
    "entra": [DATASETS / "azure_entra" / "panther-rule-tests.jsonl"],
    "okta": [DATASETS / "okta" / "panther-rule-tests.jsonl"],
    "github-audit": [DATASETS / "github_audit" / "panther-rule-tests.jsonl"],
    "vault-audit": [ROOT / "tests" / "data" / "vault" / "audit.jsonl"],
}

SPIRE_LINES = [
    'time="2025-02-03T23:34:01Z" level=debug msg="Signed X509 SVID" authorized_as=agent caller_addr="172.25.0.3:51974" '
    'entry_id=c6618b1d-ebc0-4476-b747-f0a312f744af expiration="2025-02-04T00:34:01Z" method=BatchNewX509SVID '
    'serial_num=6336550875125993042626296812949540257 spiffe_id="spiffe://example.com/workload" subsystem_name=api',
    'time="2019-10-17T20:48:17Z" level=info msg="Starting UDS server" address=/tmp/spire.sock subsystem_name=endpoints',
]
OCSF_RECORDS = [
    {
        "class_uid": 6003,
        "category_uid": 6,
        "activity_id": 2,
        "time": 1746345600000,
        "status_id": 1,
        "actor": {"user": {"uid": "svc-reporting", "type_id": 3, "type": "System"}},
        "api": {"operation": "GetObject", "service": {"name": "s3"}},
        "resources": [{"uid": "arn:aws:s3:::reports"}],
        "src_endpoint": {"ip": "10.1.2.3"},
        "cloud": {"region": "eu-west-1", "provider": "AWS"},
    },
]


def _lines(fmt: str, target: int) -> list[bytes]:
    if fmt == "native":
        base = [orjson.dumps(r) for r in generate(seed=5, identities=200).records]
    elif fmt == "spire":
        base = [line.encode() for line in SPIRE_LINES]
    elif fmt == "ocsf":
        base = [orjson.dumps(r) for r in OCSF_RECORDS]
    else:
        base = [
            line.strip()
            for path in SOURCES[fmt]
            if path.exists()
            for line in path.read_bytes().splitlines()
            if line.strip()
        ]
    if not base:
        return []
    return (base * (target // len(base) + 1))[:target]


def _ceiling(lines: list[bytes]) -> float:
    loads = orjson.loads
    start = time.perf_counter()
    for line in lines:
        # A bare try, not contextlib.suppress: the ceiling must be the cheapest honest loop.
        try:  # noqa: SIM105
            loads(line)
        except orjson.JSONDecodeError:
            pass  # SPIRE's text lines: the ceiling still pays for the attempt
    return time.perf_counter() - start


def _collect(fmt: str, lines: list[bytes]) -> tuple[float, int, int]:
    collector = Collector(fmt, Settings())
    start = time.perf_counter()
    for _ in collector.run(read_lines(lines, "bench")):
        pass
    return time.perf_counter() - start, collector.events, collector.rejects


def _events_per_record(fmt: str, lines: list[bytes]) -> list[int]:
    collector = Collector(fmt, Settings())
    counts = []
    for rec in read_lines(lines, "bench"):
        out = collector.parse(rec)
        counts.append(0 if isinstance(out, Reject) else len(out))
    return counts


_FLOOR_FIELDS = {
    "type": EventType.CREDENTIAL_USED,
    "time": datetime(2025, 1, 1, tzinfo=UTC),
    "id": "floor",
    "source": "floor",
    "nhi": "floor:nhi",
}


def _floor(fmt: str, lines: list[bytes], counts: list[int]) -> float:
    """The same run with a parser that does only what every collector must: hash the record for
    its event ids and build as many events as the real parser made. What the real parser takes
    beyond this is its own reading of the record; the floor's ratio is the most any parser could
    reach on this harness and event model."""
    per_record = iter(counts)

    def parse(value: object, ctx: ParseContext) -> list[Event]:
        # Native records that carry their own id need no hash.
        given = value.get("id") if isinstance(value, dict) else None
        basis = given if isinstance(given, str) and given else record_hash(value)
        return [new_event({**_FLOOR_FIELDS, "id": basis}) for _ in range(next(per_record))]

    collector = Collector(fmt, Settings())
    real = FORMATS[fmt]
    collector.fixed = Format(real.name, real.description, parse, real.sniff, real.decode)
    start = time.perf_counter()
    for _ in collector.run(read_lines(lines, "bench")):
        pass
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    rows = []
    target = getattr(args, "records", 20000)
    for fmt in ("native", *SOURCES, "spire", "ocsf"):
        lines = _lines(fmt, target)
        if not lines:
            continue
        repeat = max(1, args.repeat)
        ceil_s = min(_ceiling(lines) for _ in range(repeat))
        best = min((_collect(fmt, lines) for _ in range(repeat)), key=lambda r: r[0])
        seconds, events, rejects = best
        counts = _events_per_record(fmt, lines)
        floor_s = min(_floor(fmt, lines, counts) for _ in range(repeat))
        rows.append(
            row(
                f"ingest:{fmt}",
                len(lines),
                seconds,
                len(lines) / ceil_s,
                records=len(lines),
                events_out=events,
                rejects=rejects,
                floor_ratio=round(ceil_s / floor_s, 4),
            )
        )
    return rows
