"""Every rule of the hash chains (store/chain.py), pinned one by one: what each link covers, how
rows are linked and adopted, and each kind of break that verify names."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from contract.records import Factor, TrustChange
from store import Batch, Store
from store import chain as C
from store.chain import CHAINS, FINDINGS, GENESIS, SUPPRESSIONS, TRUST, Break, ChainReport, link_hash
from tests.test_store import NHI, a_finding, at


def trust(i: int, score: int = 90) -> TrustChange:
    return TrustChange(NHI, at(i), score, None, (Factor("f", -10, "d", (f"ev{i}",)),), f"e{i}")


def fill(db: Path, n: int = 4) -> None:
    with Store.open(db) as store:
        for i in range(n):
            store.write(
                Batch(trust=[trust(i, 100 - i)], findings=[replace(a_finding(last=10 + i), summary=f"s{i}")])
            )


def breaks(db: Path, limit: int = 20) -> dict[str, list[str]]:
    with Store.open(db, read_only=True) as store:
        return {r.chain: [str(b) for b in r.breaks] for r in store.verify_chains(limit)}


def stored(db: Path, chain: C.Chain) -> list[dict[str, Any]]:
    with Store.open(db, read_only=True) as store:
        cols = ", ".join(dict.fromkeys((*chain.content, *chain.key, "seq", "prev_hash", "hash")))
        rows = store.rows(f"SELECT {cols} FROM {chain.table} ORDER BY seq")
        names = list(dict.fromkeys((*chain.content, *chain.key, "seq", "prev_hash", "hash")))
    return [dict(zip(names, r, strict=True)) for r in rows]


# --- what a link covers ---------------------------------------------------------------------------


ROW_T = {
    "nhi": NHI,
    "time": at(1),
    "score": 80,
    "previous": 100,
    "factors": '[{"name":"f"}]',
    "event_id": "e1",
}


@pytest.mark.parametrize("column", TRUST.content)
def test_every_trust_column_is_in_the_hash(column: str) -> None:
    changed = {**ROW_T, column: "something else" if column != "time" else at(2)}
    assert link_hash(TRUST, GENESIS, changed, 1) != link_hash(TRUST, GENESIS, ROW_T, 1)


@pytest.mark.parametrize("column", FINDINGS.content)
def test_every_finding_history_column_is_in_the_hash(column: str) -> None:
    row = {c: f"v-{c}" for c in FINDINGS.content} | {"time": at(1), "recorded_at": at(2), "evidence": ["e1"]}
    changed = {
        **row,
        column: ["e2"] if column == "evidence" else at(3) if column in ("time", "recorded_at") else "x",
    }
    assert link_hash(FINDINGS, GENESIS, changed, 1) != link_hash(FINDINGS, GENESIS, row, 1)


@pytest.mark.parametrize("column", SUPPRESSIONS.content)
def test_every_suppression_column_is_in_the_hash(column: str) -> None:
    row = {c: f"v-{c}" for c in SUPPRESSIONS.content} | {"recorded_at": at(1), "expires": at(2)}
    changed = {**row, column: at(9) if column in ("recorded_at", "expires") else "x"}
    assert link_hash(SUPPRESSIONS, GENESIS, changed, 1) != link_hash(SUPPRESSIONS, GENESIS, row, 1)


def test_seq_and_the_previous_hash_are_in_the_hash() -> None:
    assert link_hash(TRUST, GENESIS, ROW_T, 1) != link_hash(TRUST, GENESIS, ROW_T, 2)
    assert link_hash(TRUST, GENESIS, ROW_T, 1) != link_hash(TRUST, "1" * 64, ROW_T, 1)


def test_the_hash_is_a_fixed_sha256_of_the_canonical_row() -> None:
    """The canonical form, spelled out: content columns in order, then seq, after the previous hash."""
    content = [NHI, C._plain(at(1)), 80, 100, '[{"name":"f"}]', "e1", 1]
    expected = hashlib.sha256(GENESIS.encode() + b"\n" + orjson.dumps(content)).hexdigest()
    assert link_hash(TRUST, GENESIS, ROW_T, 1) == expected


def test_instants_are_zone_free_microseconds() -> None:
    utc = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert C._plain(utc) == 1777636800000000
    assert C._plain(utc.astimezone(timezone(timedelta(hours=2)))) == C._plain(utc)
    assert C._plain(utc.replace(tzinfo=None)) == C._plain(utc)  # naive means UTC
    assert C._plain(utc + timedelta(microseconds=1)) == 1777636800000001
    assert C._plain([utc, (utc, "x")]) == [1777636800000000, [1777636800000000, "x"]]
    assert C._plain("x") == "x" and C._plain(None) is None


# --- linking -----------------------------------------------------------------------------------


def test_links_continue_across_writes_and_only_new_keys_are_linked(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 2)
    with Store.open(db) as store:
        head = store.chain_heads()["trust"]
        # one already stored, one new twice in the batch: only the new one is linked, once
        store.write(Batch(trust=[trust(0, 100), trust(5, 50), replace(trust(5, 40))]))
        assert store.chain_heads()["trust"][0] == head[0] + 1
    rows = stored(db, TRUST)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[2]["prev_hash"] == head[1] and rows[0]["prev_hash"] == GENESIS
    assert rows[2]["score"] == 40  # the writer keeps the last change per key (last_per_key)
    for prev, row in itertools.pairwise(rows):
        assert row["prev_hash"] == prev["hash"]
    for row in rows:
        assert row["hash"] == link_hash(TRUST, row["prev_hash"], row, row["seq"])


def test_a_batch_with_nothing_new_moves_no_head(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 2)
    with Store.open(db) as store:
        before = store.chain_heads()
        store.write(Batch(trust=[trust(0, 100)], findings=[replace(a_finding(last=10), summary="s0")]))
        assert store.chain_heads() == before


def test_link_new_rows_keeps_the_first_of_each_key(tmp_path: Path) -> None:
    with Store.open(tmp_path / "e.duckdb") as store:
        con = store.con
        table = pa.table(
            {
                "nhi": ["a", "a", "b"], "time": pa.array([at(1)] * 3, pa.timestamp("us", tz="UTC")),
                "score": [1, 2, 3], "previous": pa.array([None] * 3, pa.int32()), "factors": ["[]"] * 3,
                "event_id": ["e", "e", "e"],
            }
        )  # fmt: skip
        con.begin()
        linked = C.link_new_rows(con, TRUST, table)
        con.rollback()
    assert linked.column("score").to_pylist() == [1, 3]
    assert linked.column("seq").to_pylist() == [1, 2]
    prevs = linked.column("prev_hash").to_pylist()
    hashes = linked.column("hash").to_pylist()
    assert prevs == [GENESIS, hashes[0]]


def test_adopt_links_rows_from_before_the_chain_in_storage_order(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 3)
    with Store.open(db) as store:
        store.rows("UPDATE trust_scores SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq >= 2")
        store.rows(
            "UPDATE chain_heads SET seq = 1, hash = (SELECT hash FROM trust_scores WHERE seq = 1) WHERE chain = 'trust'"
        )
        assert C.adopt(store.con) == 2
        assert C.adopt(store.con) == 0  # nothing left to link
        assert store.chain_heads()["trust"][0] == 3
    assert breaks(db)["trust"] == []
    assert [r["event_id"] for r in stored(db, TRUST)] == ["e0", "e1", "e2"]


def test_adopt_rolls_back_on_error(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 2)
    with Store.open(db) as store:
        store.rows("UPDATE trust_scores SET seq = NULL WHERE seq = 2")
        store.rows("DROP TABLE chain_heads")
        with pytest.raises(Exception, match="chain_heads"):
            C.adopt(store.con)
        assert store.rows("SELECT count(*) FROM trust_scores WHERE seq IS NULL") == [(1,)]


# --- each kind of break ------------------------------------------------------------------------------


def test_an_edited_row_with_a_correctly_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    row = stored(db, TRUST)[1]
    forged = {**row, "score": 42}
    digest = link_hash(TRUST, row["prev_hash"], forged, row["seq"])  # as a forger would
    with Store.open(db) as store:
        store.rows("UPDATE trust_scores SET score = 42, hash = $h WHERE seq = 2", {"h": digest})
    assert breaks(db)["trust"] == [
        "trust chain (row nhi=k8s:prod/payments/ledger/event_id=e2, seq 3): "
        "prev_hash is not the hash of seq 2: that row was rewritten"
    ]


@pytest.mark.parametrize(
    ("sql", "seq"),
    [
        ("UPDATE trust_scores SET score = score + 1 WHERE seq = 2", 2),
        ("UPDATE trust_scores SET factors = '[]' WHERE seq = 2", 2),
        ("UPDATE trust_scores SET previous = 1 WHERE seq = 2", 2),
        ("UPDATE finding_history SET evidence = ['forged'] WHERE seq = 2", 2),
        ("UPDATE finding_history SET details = '{\"forged\": true}' WHERE seq = 2", 2),
        ("UPDATE finding_history SET recorded_at = recorded_at + INTERVAL 1 SECOND WHERE seq = 2", 2),
    ],
)
def test_editing_any_hashed_column_is_named(tmp_path: Path, sql: str, seq: int) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        store.rows(sql)
    found = [b for bs in breaks(db).values() for b in bs]
    assert len(found) == 1 and f"seq {seq}): content does not match its hash: the row was edited" in found[0]


def test_an_edited_seq_is_named(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db)
    with Store.open(db) as store:
        store.rows("UPDATE trust_scores SET seq = 5 WHERE seq = 4")
    got = breaks(db)["trust"]
    assert "seq 4 missing before this row: deleted" in got[0]
    assert "content does not match its hash: the row was edited" in got[1]  # seq is hashed too


def test_gaps_duplicates_and_unlinked_rows(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 6)
    with Store.open(db) as store:
        store.rows("DELETE FROM trust_scores WHERE seq IN (2, 3)")  # two in a row
        store.rows(
            "INSERT INTO trust_scores SELECT * REPLACE (event_id || 'x' AS event_id) FROM trust_scores WHERE seq = 5"
        )
        store.rows(
            "INSERT INTO trust_scores SELECT * REPLACE ('e99' AS event_id, NULL AS seq) FROM trust_scores WHERE seq = 1"
        )
    got = breaks(db)["trust"]
    assert got == [
        "trust chain (row nhi=k8s:prod/payments/ledger/event_id=e3, seq 4): seq 2..3 missing before this row: deleted",
        "trust chain (row nhi=k8s:prod/payments/ledger/event_id=e4x, seq 5): seq 5 appears twice: a row was duplicated",
        "trust chain (row nhi=k8s:prod/payments/ledger/event_id=e4x, seq 5): content does not match its hash: the row was edited",
        "trust chain (row nhi=k8s:prod/payments/ledger/event_id=e99, unlinked row): "
        "has no chain link (seq is NULL): added outside nhi",
    ]
    assert breaks(db, limit=1)["trust"] == got[:1]


def test_deleting_several_newest_rows_names_the_range(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 4)
    with Store.open(db) as store:
        store.rows("DELETE FROM trust_scores WHERE seq >= 3")
    assert breaks(db)["trust"] == ["trust chain (seq 4): the newest rows (seq 3..4) were deleted"]


def test_a_head_that_does_not_match_the_rows(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 2)
    with Store.open(db) as store:
        store.rows("UPDATE chain_heads SET hash = repeat('b', 64) WHERE chain = 'trust'")
    assert breaks(db)["trust"] == [
        "trust chain (seq 2): the chain head recorded at write time does not match the rows"
    ]


def test_reports_count_rows_and_carry_the_head(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 3)
    with Store.open(db, read_only=True) as store:
        reports = {r.chain: r for r in store.verify_chains()}
        heads = store.chain_heads()
    assert set(reports) == {c.name for c in CHAINS}
    t = reports["trust"]
    assert (t.rows, t.head_seq, t.head_hash, t.ok, t.table) == (3, 3, heads["trust"][1], True, "trust_scores")
    empty = reports["suppressions"]
    assert (empty.rows, empty.head_seq, empty.head_hash, empty.ok) == (0, 0, GENESIS, True)


def test_break_and_report_texts() -> None:
    assert str(Break("c", 3, "k=v", "bad")) == "c chain (row k=v, seq 3): bad"
    assert str(Break("c", None, "k=v", "bad")) == "c chain (row k=v, unlinked row): bad"
    assert str(Break("c", 3, "", "bad")) == "c chain (seq 3): bad"
    assert not ChainReport("c", "t", breaks=[Break("c", 1, "", "x")]).ok and ChainReport("c", "t").ok


def test_heads_and_dicts_read_in_chunks(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 3)
    with Store.open(db, read_only=True) as store:
        con = store.con
        assert C.head(con, SUPPRESSIONS) == (0, GENESIS)
        rows = list(C._dicts(con, "SELECT seq, hash FROM trust_scores ORDER BY seq", size=2))
        assert [r["seq"] for r in rows] == [1, 2, 3] and set(rows[0]) == {"seq", "hash"}
        assert C.heads(con)["trust"] == (3, rows[-1]["hash"])


def test_instants_are_integers_not_floats() -> None:
    assert type(C._plain(datetime(2026, 5, 1, 12, 0, 0, 1, tzinfo=UTC))) is int


def test_adopt_counts_the_rows_of_every_chain(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 3)
    with Store.open(db) as store:
        for table, chain in (("trust_scores", "trust"), ("finding_history", "findings")):
            store.rows(f"UPDATE {table} SET seq = NULL, prev_hash = NULL, hash = NULL")
            store.rows("DELETE FROM chain_heads WHERE chain = $c", {"c": chain})
        assert C.adopt(store.con) == 6  # 3 trust rows + 3 finding changes
    assert all(not b for b in breaks(db).values())


def test_every_unlinked_row_is_named_and_the_default_limit_is_twenty(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    fill(db, 1)
    with Store.open(db) as store:
        for i in range(25):
            store.rows(
                "INSERT INTO trust_scores SELECT * REPLACE ($e AS event_id, NULL AS seq) FROM trust_scores WHERE seq = 1",
                {"e": f"forged-{i}"},
            )
        assert len(C.verify_chain(store.con, TRUST).breaks) == 20
        assert len(C.verify(store.con)[1].breaks) == 20
        assert (
            len(C.verify_chain(store.con, TRUST, limit=30).breaks) == 25
        )  # each unlinked row, not just the first
