"""Read-only query execution, named queries on a hand-made store, and output formats."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract.errors import QueryError, StoreError
from queries.named import get_named, load_named_queries, parse_named_query, run_named
from queries.output import render, write_result
from store import Store
from store.readonly import QueryResult, run_query
from store.sqlguard import to_dollar_params
from tests.evidence_fixture import T0, A, B, C, D, E, F, build_fixture_db, m


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("evidence") / "fixture.duckdb")


# -- the read-only guard ------------------------------------------------------------------------

REFUSED = [
    ("INSERT INTO rejects VALUES ('x', 'r', 'why', 's', NULL, now())", "INSERT statements are refused"),
    ("UPDATE findings SET status = 'resolved'", "UPDATE statements are refused"),
    ("DELETE FROM events", "DELETE statements are refused"),
    ("CREATE TABLE t AS SELECT 1", "CREATE statements are refused"),
    ("CREATE TEMP TABLE t (a INT)", "CREATE statements are refused"),
    ("DROP TABLE events", "DROP statements are refused"),
    (
        "COPY events TO '/tmp/out.csv'",
        "COPY statements are refused (file and network access from SQL is disabled)",
    ),
    ("ATTACH '/tmp/other.duckdb' AS o", "ATTACH statements are refused (file and network access"),
    ("INSTALL httpfs", "INSTALL statements are refused (file and network access"),
    ("LOAD httpfs", "LOAD statements are refused (file and network access"),
    ("SET enable_external_access = true", "SET statements are refused"),
    ("RESET threads", "RESET statements are refused"),
    ("PRAGMA enable_profiling", "PRAGMA enable_profiling is refused"),
    ("PRAGMA threads = 1", "PRAGMA statements are refused"),
    ("CHECKPOINT", "CHECKPOINT statements are refused"),
    ("EXPLAIN ANALYZE DELETE FROM events", "DELETE statements are refused"),
    ("SELECT 1; DROP TABLE events", "DROP statements are refused"),
    ("-- looks harmless\nDELETE FROM events", "DELETE statements are refused"),
    ("/* plan */ EXPLAIN ANALYZE UPDATE events SET nhi = NULL", "UPDATE statements are refused"),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED)
def test_read_only_guard_refuses_writes_and_settings(db: Path, sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=r"^nhi query is read-only: ") as info:
        run_query(db, sql)
    assert message in str(info.value)


def test_nothing_was_changed_by_the_refused_statements(db: Path) -> None:
    for sql, _ in REFUSED:
        with pytest.raises(QueryError):
            run_query(db, sql)
    assert run_query(db, "SELECT count(*) FROM events").rows == [(15,)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "select * from READ_PARQUET('https://example.com/x.parquet')",
        "SELECT * FROM read_json('/etc/hostname')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",  # glob is a keyword to the tokenizer: refused by DuckDB itself
        "SELECT * FROM sniff_csv('/etc/passwd')",
    ],
)
def test_reading_files_from_sql_is_refused_with_a_clear_message(db: Path, sql: str) -> None:
    with pytest.raises(QueryError, match="file and network access from SQL is disabled"):
        run_query(db, sql)


def test_a_string_that_merely_mentions_read_csv_is_fine(db: Path) -> None:
    assert run_query(db, "SELECT 'read_csv(''/etc/passwd'')' AS s").rows == [("read_csv('/etc/passwd')",)]


@pytest.mark.parametrize(
    ("sql", "first_column"),
    [
        ("SELECT count(*) AS n FROM events", "n"),
        ("WITH f AS (SELECT * FROM findings) SELECT count(*) AS n FROM f", "n"),
        ("FROM identities SELECT nhi", "nhi"),
        ("DESCRIBE events", "column_name"),
        ("SHOW TABLES", "name"),
        ("EXPLAIN SELECT * FROM events", "explain_key"),
        ("EXPLAIN ANALYZE SELECT count(*) FROM events", "explain_key"),
        ("SUMMARIZE trust_scores", "column_name"),
        ("PRAGMA table_info('findings')", "cid"),
        ("SELECT 1 AS one; SELECT 2 AS two", "two"),
        ("EXPLAIN SELECT '-- not a comment' AS explain_key", "explain_key"),
        ("/* which version */ PRAGMA version", "library_version"),
    ],
)
def test_reads_are_allowed(db: Path, sql: str, first_column: str) -> None:
    result = run_query(db, sql)
    assert result.columns[0] == first_column
    assert result.rows


def test_result_shape_and_types(db: Path) -> None:
    result = run_query(db, "SELECT nhi, trust, first_seen FROM identities WHERE nhi = :nhi", {"nhi": A})
    assert result == QueryResult(
        columns=["nhi", "trust", "first_seen"],
        rows=[(A, 40, T0)],
        types=["VARCHAR", "INTEGER", "TIMESTAMP WITH TIME ZONE"],
    )
    assert result.dicts() == [{"nhi": A, "trust": 40, "first_seen": T0}]


def test_sql_errors_are_query_errors(db: Path) -> None:
    with pytest.raises(QueryError, match="does not parse"):
        run_query(db, "SELEC 1")
    with pytest.raises(QueryError, match="no_such_table"):
        run_query(db, "SELECT * FROM no_such_table")
    with pytest.raises(QueryError, match="no SQL statement"):
        run_query(db, "  -- nothing\n")


def test_query_on_a_missing_store_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        run_query(tmp_path / "nope.duckdb", "SELECT 1")


# -- parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT :a", "SELECT $a"),
        ("WHERE (:status = 'all' OR status = :status)", "WHERE ($status = 'all' OR status = $status)"),
        ("SELECT x::INT, CAST(:n AS INT)", "SELECT x::INT, CAST($n AS INT)"),
        ("SELECT ':a', \"b:c\" -- :d\n, /* :e */ :f", "SELECT ':a', \"b:c\" -- :d\n, /* :e */ $f"),
        (
            "SELECT l[1:n], l[a:b], l[:n], {'k':v}, {'k': :v}",
            "SELECT l[1:n], l[a:b], l[:n], {'k':v}, {'k': $v}",
        ),
        ("LIMIT :limit", "LIMIT $limit"),
    ],
)
def test_colon_params_become_dollar_params(sql: str, expected: str) -> None:
    assert to_dollar_params(sql) == expected


def test_params_are_bound_and_checked(db: Path) -> None:
    sql = "SELECT count(*) FROM findings WHERE nhi = :nhi AND status = :status AND reason::VARCHAR <> ':x'"
    assert run_query(db, sql, {"nhi": A, "status": "open"}).rows == [(3,)]
    with pytest.raises(QueryError, match=r"missing parameter.*: status"):
        run_query(db, sql, {"nhi": A})
    with pytest.raises(QueryError, match="not used by the query: extra"):
        run_query(db, sql, {"nhi": A, "status": "open", "extra": 1})


# -- named queries: parsing ---------------------------------------------------------------------

EXPECTED_QUERIES = {
    "tokens-outliving-tasks",
    "unowned-identities",
    "context-drift",
    "trust-leaderboard",
    "identity-timeline",
    "coverage",
    "findings-by-detector",
    "rejects-by-reason",
}


def test_every_shipped_query_parses_and_declares_what_it_uses() -> None:
    queries = load_named_queries()
    assert set(queries) >= EXPECTED_QUERIES
    for name, query in queries.items():
        assert (
            query.name == name
            and query.description
            and query.sql.lstrip().upper().startswith(("SELECT", "WITH"))
        )
        used = set(re.findall(r"(?<![:\w]):([a-z_]+)\b", query.sql))
        assert used == {p.name for p in query.params}, name


def test_header_parsing_with_defaults_required_and_continuations() -> None:
    query = parse_named_query(
        "-- name: demo\n"
        "-- description: First line\n"
        "--   and its continuation.\n"
        "-- param: nhi: The identity (required)\n"
        "-- param: limit: How many rows (default 20)\n"
        "-- param: status: A filter\n"
        "--   spanning two lines (default all)\n"
        "\n"
        "SELECT :nhi, :limit, :status\n"
    )
    assert query.name == "demo"
    assert query.description == "First line and its continuation."
    assert [(p.name, p.required, p.default) for p in query.params] == [
        ("nhi", True, None),
        ("limit", False, "20"),
        ("status", False, "all"),
    ]
    assert query.sql == "SELECT :nhi, :limit, :status"
    assert query.bind({"nhi": "x"}) == {"nhi": "x", "limit": "20", "status": "all"}
    with pytest.raises(QueryError, match="needs parameter nhi: The identity"):
        query.bind({})
    with pytest.raises(QueryError, match=r"has no parameter colour .*its parameters: limit, nhi, status"):
        query.bind({"nhi": "x", "colour": "red"})


def test_bad_headers_are_refused() -> None:
    with pytest.raises(QueryError, match=r"missing '-- name: \.\.\.' header"):
        parse_named_query("-- description: x\nSELECT 1", "q.sql")
    with pytest.raises(QueryError, match="bad param header"):
        parse_named_query("-- name: q\n-- param: 1bad\nSELECT 1", "q.sql")
    with pytest.raises(QueryError, match="no SQL after the header"):
        parse_named_query("-- name: q\n", "q.sql")


def test_unknown_names_suggest_close_matches(db: Path) -> None:
    with pytest.raises(
        QueryError, match="unknown named query 'trust-leaderbord'; did you mean trust-leaderboard"
    ):
        run_named(db, "trust-leaderbord")
    with pytest.raises(QueryError, match="unknown named query 'zzz' \\(known: context-drift, coverage"):
        get_named("zzz")


def test_named_query_param_errors(db: Path) -> None:
    with pytest.raises(QueryError, match="identity-timeline needs parameter nhi"):
        run_named(db, "identity-timeline")
    with pytest.raises(QueryError, match="coverage has no parameter limit"):
        run_named(db, "coverage", {"limit": 3})


# -- named queries: results on the fixture ------------------------------------------------------


def test_tokens_outliving_tasks(db: Path) -> None:
    result = run_named(db, "tokens-outliving-tasks")
    got = [
        (
            r["finding_id"],
            r["status"],
            r["severity"],
            r["reason"],
            r["outlives_s"],
            r["outlives"],
            r["never_expires"],
        )
        for r in result.dicts()
    ]
    assert got == [
        (
            "fA2",
            "open",
            "high",
            "used-after-task-end",
            600.0,
            "00:10:00",
            False,
        ),  # last use 10 min after the end
        ("fC3", "open", "medium", "outlived-task", None, None, True),  # never expires: listed first
        ("fA1", "open", "medium", "outlived-task", 3000.0, "00:50:00", False),  # expires 50 min after the end
        ("fA3", "resolved", "medium", "outlived-task", 600.0, "00:10:00", False),  # revoked 10 min after
    ]
    first = result.dicts()[0]
    assert (first["nhi"], first["credential"], first["task"], first["task_ended_at"]) == (
        A,
        "cA1",
        "tA1",
        m(10),
    )
    assert first["summary"] == f"token-outlived-task used-after-task-end on {A}"
    only_resolved = run_named(db, "tokens-outliving-tasks", {"status": "resolved"})
    assert only_resolved.column("finding_id") == ["fA3"]


def test_unowned_identities(db: Path) -> None:
    rows = [
        (r["nhi"], r["owner_status"], r["identity_status"], r["reason"], r["finding_status"])
        for r in run_named(db, "unowned-identities").dicts()
    ]
    assert rows == [
        (B, "departed", "registered", "owner-departed", "open"),
        (C, "none", "unregistered", "no-owner", "open"),
        (D, "active", "registered", "no-owner", "resolved"),  # owned now, but the finding stays visible
        (E, "active", "deleted", None, None),  # deleted: no active owner any more
    ]


def test_context_drift(db: Path) -> None:
    result = run_named(db, "context-drift")
    rows = [(r["finding_id"], r["level"], r["attribute"], r["evidence_count"]) for r in result.dicts()]
    assert rows == [("fA4", "credential", "node", 1), ("fC2", "identity", "namespace", 0)]
    details = orjson.loads(render(result, "json"))[0]["details"]
    assert details == {"level": "credential", "attribute": "node", "issued": "n1", "used": "n2"}


def test_trust_leaderboard(db: Path) -> None:
    full = run_named(db, "trust-leaderboard")
    assert [(r[0], r[1]) for r in full.rows] == [(A, 40), (B, 55), (C, 70), (F, 90), (E, 100), (D, 100)]
    top = run_named(db, "trust-leaderboard", {"limit": "2"})
    assert top.column("nhi") == [A, B]
    factors = orjson.loads(top.dicts()[0]["factors"])
    assert [f["name"] for f in factors] == ["outlived-task", "used-after-task-end"]
    assert top.dicts()[0]["previous"] == 70 and top.dicts()[0]["scored_at"] == m(20)
    assert run_named(db, "trust-leaderboard", {"limit": 1}).column("nhi") == [A]


def test_identity_timeline(db: Path) -> None:
    result = run_named(db, "identity-timeline", {"nhi": A})
    times = result.column("time")
    assert times == sorted(times)
    kinds = result.column("kind")
    assert (kinds.count("event"), kinds.count("finding"), kinds.count("trust")) == (10, 5, 3)
    refs = result.column("ref")
    assert "eA_end1" in refs and "eA_rev2" in refs  # events that only name A's task / credential
    assert "eX_end" not in refs and "eB_reg" not in refs
    by_ref = {(r["kind"], r["ref"]): r for r in result.dicts()}
    assert by_ref[("finding", "fA3")]["what"] == "token-outlived-task close"  # the last fA3 change
    assert by_ref[("trust", "eA_use2")]["what"] == "trust 70 -> 40"
    assert by_ref[("event", "eA_use1")]["detail"] == "get s3://ledger success"
    assert result.rows[0][:3] == (T0, "event", "identity.registered")
    assert run_named(db, "identity-timeline", {"nhi": "k8s:nobody"}).rows == []


def test_coverage(db: Path) -> None:
    result = run_named(db, "coverage")
    total = {
        "identities": 5,  # A B C D F; E is deleted
        "humans": 0,
        "machines": 0,
        "unknown_kind": 5,  # the fixture's rows carry no kind evidence
        "provider_managed": 0,
        "owned": 3,  # A D F
        "owned_by_creator": 0,
        "unowned": 1,  # no owner at all (departed owners are owners, and counted apart)
        "inventoried": False,
        "owned_share": 0.6,
        "expiring_share": 0.4,  # B D: every credential expires
        "attested_share": 0.2,  # D: every credential attested
        "never_expiring_credentials": 2,  # cA2 cC1 (cE1's identity is deleted)
        "credentials": 6,
    }
    assert result.dicts() == [
        {"scope": "(all)", **total, "skipped_records": 0, "skipped_by_source": None},
        {"scope": "(unknown)", **total, "skipped_records": None, "skipped_by_source": None},
    ]


def test_findings_by_detector(db: Path) -> None:
    rows = [r[:6] for r in run_named(db, "findings-by-detector").rows]
    assert rows == [
        ("token-outlived-task", 3, 1, 1, 4, 2),
        ("unowned-actor", 2, 1, 1, 3, 3),
        ("context-drift", 2, 0, 1, 2, 2),
    ]


def test_rejects_by_reason(db: Path) -> None:
    rows = [r[:4] for r in run_named(db, "rejects-by-reason").rows]
    assert rows == [
        ("native", "invalid JSON", 2, "events.jsonl:7"),
        ("k8s-audit", "missing nhi", 1, "audit.log:3"),
    ]


def test_first_seen_survived_the_second_batch(db: Path) -> None:
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT first_seen, status FROM findings WHERE finding_id = 'fA3'") == [
            (m(30), "resolved")
        ]


# -- output formats -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leaderboard(db: Path) -> QueryResult:
    return run_named(db, "trust-leaderboard", {"limit": 3})


def test_json_is_one_array_of_row_objects(leaderboard: QueryResult) -> None:
    text = render(leaderboard, "json")
    data = orjson.loads(text)
    assert isinstance(data, list) and len(data) == 3
    assert data[0]["nhi"] == A and data[0]["trust"] == 40
    assert data[0]["scored_at"] == "2026-05-01T12:20:00Z"  # ISO 8601
    assert data[0]["factors"][1]["evidence"] == ["eA_use2"]  # JSON columns are embedded, not strings
    assert text.count("\n") == 1


def test_jsonl_is_one_object_per_line(leaderboard: QueryResult) -> None:
    lines = render(leaderboard, "jsonl").splitlines()
    assert [orjson.loads(line)["nhi"] for line in lines] == [A, B, C]


def test_csv_has_a_header_and_iso_times(leaderboard: QueryResult) -> None:
    rows = list(csv.reader(io.StringIO(render(leaderboard, "csv"))))
    assert rows[0] == leaderboard.columns
    assert len(rows) == 4
    record = dict(zip(rows[0], rows[3], strict=True))
    assert record["nhi"] == C and record["owner"] == "" and record["scored_at"] == "2026-05-01T12:02:00Z"


def test_table_is_aligned_text(leaderboard: QueryResult) -> None:
    lines = render(leaderboard, "table").splitlines()
    assert lines[0].split()[:3] == ["nhi", "trust", "previous"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[-1] == "(3 rows)"
    spans = [match.span() for match in re.finditer("-+", lines[1])]
    nhi, trust = (slice(*spans[0]), slice(*spans[1]))
    assert lines[4][nhi].rstrip() == C and lines[2][nhi] == A.ljust(len(C))  # text: left-aligned
    assert lines[2][trust] == "   40"  # numbers: right-aligned under "trust"


def test_parquet_is_readable_by_pyarrow(leaderboard: QueryResult, tmp_path: Path) -> None:
    out = tmp_path / "board.parquet"
    write_result(leaderboard, "parquet", path=out)
    table = pq.read_table(out)
    assert table.column_names == leaderboard.columns
    assert table.column("nhi").to_pylist() == [A, B, C]
    assert table.schema.field("trust").type == pa.int32()
    assert table.schema.field("scored_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("owner").to_pylist() == ["alice", "bob", None]


def test_parquet_needs_a_file_and_unknown_formats_are_refused(leaderboard: QueryResult) -> None:
    with pytest.raises(QueryError, match="parquet output needs an output file"):
        write_result(leaderboard, "parquet", stream=io.StringIO())
    with pytest.raises(QueryError, match="unknown output format 'xml'"):
        render(leaderboard, "xml")


def test_text_formats_go_to_a_stream_or_a_file(leaderboard: QueryResult, tmp_path: Path) -> None:
    stream = io.StringIO()
    write_result(leaderboard, "jsonl", stream=stream)
    write_result(leaderboard, "jsonl", path=tmp_path / "out.jsonl")
    assert stream.getvalue() == (tmp_path / "out.jsonl").read_text() == render(leaderboard, "jsonl")


def test_empty_results_render(db: Path) -> None:
    empty = run_query(db, "SELECT nhi, trust FROM identities WHERE false")
    assert render(empty, "json") == "[]\n"
    assert render(empty, "jsonl") == ""
    assert render(empty, "csv") == "nhi,trust\n"
    assert render(empty, "table").splitlines()[-1] == "(0 rows)"


def test_identity_timeline_finds_an_identity_by_any_alias(tmp_path: Path) -> None:
    """A CloudTrail registration carries the role's ARN (with its IAM path) as an alias."""
    from nhi.cli import main

    record = {
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "console.amazonaws.com",
        "recipientAccountId": "123456789012",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "accountId": "123456789012",
            "userName": "alice",
            "sessionContext": {"attributes": {"mfaAuthenticated": "true"}},
        },
        "requestParameters": {"roleName": "etl"},
        "responseElements": {
            "role": {"arn": "arn:aws:iam::123456789012:role/service/etl", "roleName": "etl"}
        },
    }
    source = tmp_path / "trail.jsonl"
    source.write_bytes(orjson.dumps(record) + b"\n")
    db = tmp_path / "a.duckdb"
    assert main(["replay", "--db", str(db), "-f", "cloudtrail", "-q", str(source)]) == 0
    by_id = run_named(db, "identity-timeline", {"nhi": "aws:123456789012:role/etl"}).rows
    by_arn = run_named(db, "identity-timeline", {"nhi": "arn:aws:iam::123456789012:role/service/etl"}).rows
    assert by_id and by_arn == by_id
    assert [r[1:3] for r in by_id] == [("event", "identity.registered"), ("trust", "trust new -> 95")]
