"""Tamper evidence: the hash chains over finding_history and trust_scores, and nhi verify --db."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contract.records import TrustChange
from nhi.cli import main
from store import Batch, Store
from store.chain import GENESIS
from tests.test_store import NHI, a_finding, at


def fill(db: Path) -> None:
    """Three writes: 3 finding changes and 3 trust changes, so links span transactions."""
    with Store.open(db) as store:
        for i in range(3):
            store.write(
                Batch(
                    findings=[replace(a_finding(last=10 + i), activity="create" if i == 0 else "update")],
                    trust=[TrustChange(NHI, at(i), 100 - 10 * i, None, (), f"e{i}")],
                )
            )


def verify(db: Path) -> list[str]:
    with Store.open(db, read_only=True) as store:
        return [str(b) for r in store.verify_chains() for b in r.breaks]


def test_rows_are_linked_in_insertion_order_and_verify(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        rows = store.rows("SELECT seq, prev_hash, hash FROM finding_history ORDER BY seq")
        heads = store.chain_heads()
        # a replay of the same batch adds no rows and no links
        store.write(Batch(findings=[a_finding()], trust=[TrustChange(NHI, at(0), 100, None, (), "e0")]))
        assert store.chain_heads() == heads
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[0][1] == GENESIS
    assert [r[1] for r in rows[1:]] == [r[2] for r in rows[:-1]]
    assert heads == {
        "findings": (3, rows[-1][2]),
        "trust": (3, heads["trust"][1]),
        "suppressions": (0, GENESIS),
    }
    assert verify(db) == []


def test_an_edited_row_is_named(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        hid = store.rows("SELECT history_id FROM finding_history WHERE seq = 2")[0][0]
        store.rows("UPDATE finding_history SET severity = 'low' WHERE seq = 2")
    broken = verify(db)
    assert len(broken) == 1
    assert f"history_id={hid}" in broken[0] and "seq 2" in broken[0] and "edited" in broken[0]


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        store.rows("UPDATE trust_scores SET score = 99, hash = repeat('a', 64) WHERE seq = 1")
    broken = verify(db)
    assert any("seq 1" in b and "edited" in b for b in broken)
    assert any("seq 2" in b and "prev_hash" in b for b in broken)


def test_a_deleted_row_is_a_gap_before_the_next_row(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        store.rows("DELETE FROM trust_scores WHERE seq = 2")
    broken = verify(db)
    assert broken == [
        "trust chain (row nhi=k8s:prod/payments/ledger/event_id=e2, seq 3): seq 2 missing before this row: deleted"
    ]


def test_deleting_the_newest_rows_is_caught_by_the_recorded_head(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        store.rows("DELETE FROM finding_history WHERE seq = 3")
    broken = verify(db)
    assert broken == ["findings chain (seq 3): the newest rows (seq 3) were deleted"]


def test_writes_after_a_deletion_keep_the_gap_visible(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        store.rows("DELETE FROM trust_scores WHERE seq = 3")
        store.write(Batch(trust=[TrustChange(NHI, at(9), 50, 80, (), "e9")]))
    assert any("seq 3 missing" in b for b in verify(db))


def test_a_store_from_before_the_chain_is_linked_on_migration(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        # turn the file back into a schema-1 store with the same rows
        for table in ("finding_history", "trust_scores"):
            for col in ("seq", "prev_hash", "hash"):
                store.rows(f"ALTER TABLE {table} DROP COLUMN {col}")
        store.rows("DROP TABLE chain_heads")
        store.rows("DROP TABLE alert_suppressions")
        store.rows("DROP TABLE suppressions")
        # and undo what later migrations added
        for col in (
            "kind",
            "kind_evidence",
            "human_use",
            "owner_source",
            "managed_by",
            "scope",
            "scope_inventoried",
        ):
            store.rows(f"ALTER TABLE identities DROP COLUMN {col}")
        store.rows("DROP TABLE identity_aliases")
        store.rows("DROP TABLE skipped")
        store.rows("DELETE FROM schema_migrations WHERE version >= 2")
    with Store.open(db) as store:
        assert store.chain_heads()["findings"][0] == 3
        assert store.rows("SELECT count(*) FROM trust_scores WHERE seq IS NULL") == [(0,)]
    assert verify(db) == []


def test_nhi_verify_db_exits_non_zero_and_names_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    assert main(["verify", "--db", str(db)]) == 0
    assert "ok" in capsys.readouterr().out
    with Store.open(db) as store:
        hid = store.rows("SELECT history_id FROM finding_history WHERE seq = 1")[0][0]
        store.rows("UPDATE finding_history SET summary = 'nothing to see' WHERE seq = 1")
    assert main(["verify", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and hid in out
