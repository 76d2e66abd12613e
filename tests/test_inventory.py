"""Inventory and leaver imports: CSV, JSON (array, object, lines) and YAML -> events or located rejects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.errors import NhiError
from contract.events import EventType
from ingest.inventory import load_inventory, load_leavers

AS_OF = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

CSV = """nhi,owner,purpose,expiry,env
k8s:prod/payments/ledger,alice@example.com,posts ledger entries,2026-12-31,prod
aws:111122223333:role/ci-deployer,team-platform,CI deploys,,ci
,bob@example.com,no id,,
gcp:acme/etl@acme.iam.gserviceaccount.com,carol@example.com,nightly ETL,not-a-date,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_inventory(tmp_path: Path) -> None:
    events, rejects = load_inventory(write(tmp_path, "nhis.csv", CSV), as_of=AS_OF)
    assert [e.nhi for e in events] == ["k8s:prod/payments/ledger", "aws:111122223333:role/ci-deployer"]
    ledger = events[0]
    assert ledger.type is EventType.IDENTITY_REGISTERED and ledger.source == "inventory"
    assert (ledger.owner, ledger.purpose, ledger.time) == ("alice@example.com", "posts ledger entries", AS_OF)
    assert ledger.expires_at == datetime(2026, 12, 31, tzinfo=UTC)  # a date means 00:00 UTC
    assert ledger.attrs == {"env": "prod"}
    assert events[1].expires_at is None  # blank expiry: never
    assert [(r.location, r.source) for r in rejects] == [
        (f"{tmp_path}/nhis.csv:4", "inventory"),
        (f"{tmp_path}/nhis.csv:5", "inventory"),
    ]
    assert "missing 'nhi'" in rejects[0].reason
    assert rejects[1].reason.startswith("expiry: not a date")
    assert "carol@example.com" in rejects[1].raw


def test_ids_are_stable_across_as_of_but_follow_content(tmp_path: Path) -> None:
    path = write(tmp_path, "nhis.csv", CSV)
    first, _ = load_inventory(path, as_of=AS_OF)
    again, _ = load_inventory(path, as_of=datetime(2025, 1, 1, tzinfo=UTC))
    assert [e.id for e in first] == [e.id for e in again]
    changed, _ = load_inventory(write(tmp_path, "v2.csv", CSV.replace("alice@", "dave@")), as_of=AS_OF)
    assert changed[0].id != first[0].id and changed[1].id == first[1].id
    now, _ = load_inventory(path)  # no as_of: now
    assert abs((now[0].time - datetime.now(UTC)).total_seconds()) < 60


def test_json_array_object_and_lines(tmp_path: Path) -> None:
    array = '[{"nhi": "spiffe://example.org/ns/a/sa/b", "owner": "x", "time": "2024-01-02T03:04:05Z"}, 7]'
    events, rejects = load_inventory(write(tmp_path, "a.json", array), as_of=AS_OF)
    assert events[0].time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [(r.location, r.reason) for r in rejects] == [
        (f"{tmp_path}/a.json#1", "row is not an object/mapping (got int)")
    ]
    wrapped = '{"items": [{"NHI": "k8s:a/b/c", "Expires-At": "2025-01-01T00:00:00+02:00"}]}'
    [e], _ = load_inventory(write(tmp_path, "b.json", wrapped), as_of=AS_OF)
    assert (e.nhi, e.expires_at) == ("k8s:a/b/c", datetime(2024, 12, 31, 22, tzinfo=UTC))
    lines = '{"nhi": "n1", "owner": "o"}\n{broken\n\n{"nhi": "n2"}\n'
    events, rejects = load_inventory(write(tmp_path, "c.jsonl", lines), as_of=AS_OF)
    assert [e.nhi for e in events] == ["n1", "n2"]
    assert rejects[0].location == f"{tmp_path}/c.jsonl:2" and rejects[0].reason.startswith("not valid JSON")


def test_yaml_inventory_and_secret_columns_are_scrubbed(tmp_path: Path) -> None:
    text = """
nhis:
  - nhi: k8s:prod/batch/etl
    owner: team-data
    expiry: 2026-01-31
    api_key: sk-live-0123456789abcdefghij
  - owner: nobody
"""
    events, rejects = load_inventory(write(tmp_path, "inv.yaml", text), as_of=AS_OF)
    [e] = events
    assert e.expires_at == datetime(2026, 1, 31, tzinfo=UTC)
    assert "sk-live-0123456789abcdefghij" not in e.model_dump_json()
    assert e.attrs["api_key"].startswith("fp:")
    assert rejects[0].location == f"{tmp_path}/inv.yaml#1"


def test_leavers(tmp_path: Path) -> None:
    text = "owner,departed_at\nalice@example.com,2024-05-31\nbob@example.com,\n,2024-01-01\ncarol@example.com,soon\n"
    events, rejects = load_leavers(write(tmp_path, "leavers.csv", text), as_of=AS_OF)
    assert [(e.type, e.owner, e.time, e.nhi) for e in events] == [
        (EventType.OWNER_DEPARTED, "alice@example.com", datetime(2024, 5, 31, tzinfo=UTC), None),
        (EventType.OWNER_DEPARTED, "bob@example.com", AS_OF, None),  # no date: as of the import
    ]
    assert {e.source for e in events} == {"leavers"}
    assert [r.location for r in rejects] == [f"{tmp_path}/leavers.csv:4", f"{tmp_path}/leavers.csv:5"]
    again, _ = load_leavers(tmp_path / "leavers.csv", as_of=datetime(2030, 1, 1, tzinfo=UTC))
    assert [e.id for e in again] == [e.id for e in events]


def test_unreadable_files_raise(tmp_path: Path) -> None:
    with pytest.raises(NhiError, match=r"(?i)no such file"):
        load_inventory(tmp_path / "missing.csv")
    with pytest.raises(NhiError, match="not valid YAML"):
        load_inventory(write(tmp_path, "bad.yaml", "a: [unclosed"))
    with pytest.raises(NhiError, match="expected a list"):
        load_inventory(write(tmp_path, "scalar.yaml", "just text"))
