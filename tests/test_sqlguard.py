"""Every rule of the read-only SQL guard (store/sqlguard.py, store/readonly.py), pinned one by one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from contract.errors import QueryError, StoreError
from store import Batch, Store
from store.readonly import QueryResult, execute_plan, friendly_error, plan_query, run_query
from store.sqlguard import _body, _kind, _refusal, check_read_only, to_dollar_params
from tests.test_store import a_finding


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guard") / "g.duckdb"
    with Store.open(path) as store:
        store.write(Batch(findings=[a_finding()]))
    return path


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT :a", "SELECT $a"),
        ("SELECT :a, :b_2", "SELECT $a, $b_2"),
        ("SELECT x::INT FROM t", "SELECT x::INT FROM t"),  # a cast
        ("SELECT ':a'", "SELECT ':a'"),  # a string
        ("SELECT 1 -- :a\n", "SELECT 1 -- :a\n"),  # a comment
        ("SELECT l[1:n] FROM t", "SELECT l[1:n] FROM t"),  # a slice bound after a digit
        ("SELECT l[:n] FROM t", "SELECT l[:n] FROM t"),  # a slice bound after '['
        ("SELECT {'k':v}", "SELECT {'k':v}"),  # a struct key after a quote
        ("SELECT f(x):n", "SELECT f(x):n"),  # after ')'
        ("SELECT a :b", "SELECT a $b"),  # after a space: a parameter
        ("SELECT : a", "SELECT : a"),  # a space between: not a parameter
        ("SELECT :1", "SELECT :1"),  # a number is not a name
        ("SELECT (:a)", "SELECT ($a)"),
        ("SELECT :select", "SELECT $select"),  # a keyword as a name
        ("SELECT :a", "SELECT $a"),
    ],
)
def test_colon_parameters(sql: str, expected: str) -> None:
    assert to_dollar_params(sql) == expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO findings SELECT * FROM findings", "INSERT statements are refused"),
        ("  -- a comment\n/* another */ DELETE FROM findings", "DELETE statements are refused"),
        ("COPY findings TO '/tmp/x.csv'", "COPY statements are refused (file and network access"),
        ("ATTACH '/tmp/other.duckdb'", "ATTACH statements are refused (file and network access"),
        ("INSTALL httpfs", "INSTALL statements are refused (file and network access"),
        ("LOAD httpfs", "LOAD statements are refused (file and network access"),
        ("EXPORT DATABASE '/tmp/x'", "EXPORT statements are refused (file and network access"),
        ("SET threads = 1", "SET statements are refused"),
        ("CREATE TABLE x (a INT)", "CREATE statements are refused"),
        ("PRAGMA enable_profiling", "PRAGMA enable_profiling is refused"),
        ("EXPLAIN ANALYZE DELETE FROM findings", "DELETE statements are refused"),
        ("EXPLAIN ANALYSE INSERT INTO findings SELECT * FROM findings", "INSERT statements are refused"),
        ("SELECT 1; DROP TABLE findings", "DROP statements are refused"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() is refused"),
        ("SELECT * FROM READ_PARQUET ('x.parquet')", "read_parquet() is refused"),
        ("SELECT * FROM glob('*')", "glob() is refused"),
        ("", "no SQL statement given"),
        ("SELEC 1", "does not parse"),
    ],
)  # fmt: skip
def test_refusals_name_what_was_refused(sql: str, message: str) -> None:
    with pytest.raises(QueryError) as exc:
        check_read_only(sql)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  /* lead */ -- comment\n SELECT 1",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "PRAGMA version",
        "pragma table_info('findings')",
        "PRAGMA show_tables",
        "SELECT 'read_csv(' AS not_a_call",
        "SELECT read_csv_auto FROM (SELECT 1 AS read_csv_auto)",  # a column named like one, not a call
        "SELECT 1; SELECT 2",
    ],
)
def test_reads_pass(sql: str) -> None:
    assert check_read_only(sql)


def test_statements_come_back_in_order() -> None:
    assert [s.query.strip(" ;") for s in check_read_only("SELECT 1; SELECT 2")] == ["SELECT 1", "SELECT 2"]


def test_plan_binds_each_statement_its_own_parameters() -> None:
    plan = plan_query("SELECT :a; SELECT :b, :a", {"a": 1, "b": 2})
    assert [bound for _, bound in plan] == [{"a": 1}, {"b": 2, "a": 1}]
    with pytest.raises(QueryError, match=r"missing parameter\(s\): b"):
        plan_query("SELECT :a, :b", {"a": 1})
    with pytest.raises(QueryError, match="not used by the query: c"):
        plan_query("SELECT :a", {"a": 1, "c": 3})
    assert plan_query("SELECT 1") == [("SELECT 1", {})]


def test_run_query_returns_the_last_statement_with_types(db: Path) -> None:
    result = run_query(db, "SELECT 1 AS one; SELECT finding_id, evidence, first_seen FROM findings")
    assert result.columns == ["finding_id", "evidence", "first_seen"]
    assert result.types == ["VARCHAR", "VARCHAR[]", "TIMESTAMP WITH TIME ZONE"]
    assert len(result.rows) == 1 and isinstance(result.rows[0], tuple)
    assert result.column("finding_id") == [a_finding().finding_id]
    assert result.dicts()[0]["evidence"] == a_finding().evidence


def test_the_connection_itself_refuses_what_the_guard_might_miss(db: Path) -> None:
    # a file named as a table (a replacement scan) is no function call the guard could see
    with pytest.raises(QueryError, match="file and network access from SQL is disabled"):
        run_query(db, "SELECT * FROM 'x.csv'")
    assert run_query(db, "SELECT current_setting('enable_external_access')").rows == [(False,)]
    with pytest.raises(QueryError, match="RESET statements are refused"):
        run_query(db, "SELECT 1; RESET lock_configuration")


def test_friendly_errors() -> None:
    assert "file and network access from SQL is disabled" in str(
        friendly_error(duckdb.PermissionException("x"), "db")
    )
    assert "file and network access" in str(friendly_error(duckdb.Error("disabled by configuration"), "db"))
    assert "file and network access" in str(
        friendly_error(duckdb.Error("disabled through configuration"), "db")
    )
    assert str(friendly_error(duckdb.Error("the configuration has been locked"), "db")) == (
        "nhi query is read-only: settings can't be changed from SQL"
    )
    assert (
        str(friendly_error(duckdb.Error("in read-only mode!"), "db"))
        == "nhi query is read-only: in read-only mode!"
    )
    assert str(friendly_error(duckdb.Error("boom"), "db.duckdb")) == "query failed on db.duckdb: boom"


def test_arrow_types_survive_all_null_columns_and_odd_values() -> None:
    result = QueryResult(
        ["s", "ts", "n", "big", "list"],
        [(None, None, None, 2**70, ["a"]), (None, None, None, 1, None)],
        ["VARCHAR", "TIMESTAMP WITH TIME ZONE", "INTEGER", "HUGEINT", "VARCHAR[]"],
    )
    table = result.to_arrow()
    assert table.schema.field("s").type == pa.string()
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("n").type == pa.int32()
    assert table.schema.field("big").type == pa.string() and table.column("big").to_pylist() == [
        str(2**70),
        "1",
    ]
    assert table.schema.field("list").type == pa.list_(pa.string())
    untyped = QueryResult(["x"], [(1,)]).to_arrow()
    assert untyped.schema.field("x").type == pa.int64()


def test_a_missing_store_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        run_query(tmp_path / "nope.duckdb", "SELECT 1")


def test_messages_name_every_parameter_and_the_store(db: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match=r"missing parameter\(s\): a, b \(give them as name=value\)"):
        plan_query("SELECT :a, :b")
    with pytest.raises(QueryError, match=r"not used by the query: c, d$"):
        plan_query("SELECT 1", {"c": 1, "d": 2})
    with pytest.raises(QueryError, match=f"query failed on {db}: "):
        run_query(db, "SELECT * FROM no_such_table")
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(StoreError, match=f"{foreign} is not an nhi-evidence store"):
        run_query(foreign, "SELECT 1")
    with pytest.raises(QueryError, match=r"^nhi query: no SQL statement given$"):
        execute_plan(duckdb.connect(), [])


def test_only_leading_comments_are_skipped_to_find_the_statement() -> None:
    with pytest.raises(QueryError, match="DELETE statements are refused"):
        check_read_only("-- one\n-- two\n/* three */ DELETE FROM findings")
    assert _body("-- a\n/* b */ SELECT '--x'") == "SELECT '--x'"
    assert _kind("") == "this" and _kind("  select 1") == "SELECT"
    assert str(_refusal("DROP")) == "nhi query is read-only: DROP statements are refused"


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1 WHERE 'a' GLOB 'a*'", "SELECT * FROM findings LIMIT 1 OFFSET 0"],
)
def test_glob_as_an_operator_and_keywords_near_the_end_are_fine(sql: str) -> None:
    assert check_read_only(sql)


def test_a_file_function_as_the_last_token_but_one_is_refused() -> None:
    with pytest.raises(QueryError, match=r"read_text\(\) is refused"):
        check_read_only("SELECT read_text(")  # refused before the parser sees the missing ')'


def test_a_parameter_at_the_very_start_and_after_each_blocking_character() -> None:
    assert to_dollar_params(":a") == "$a"
    assert (
        to_dollar_params("SELECT [1,2][:n], x[a:b] FROM t WHERE y = :p")
        == "SELECT [1,2][:n], x[a:b] FROM t WHERE y = $p"
    )
