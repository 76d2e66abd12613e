"""What user SQL may do before it reaches the store: read, and nothing else.

The connection itself is read-only with external access off (store.readonly); this module
refuses the rest early, with messages that say why, and turns ``:name`` placeholders into
DuckDB's ``$name``.
"""

from __future__ import annotations

import re

import duckdb

from contract.errors import QueryError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A ':' right after one of these is a slice bound (l[1:n], l[:n]) or a struct key ({'k':v}), not a parameter.
_NOT_PARAM_AFTER = frozenset("[])}'\"") | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
)

# Table functions that read files or URLs. External access is off anyway; naming them here
# turns DuckDB's generic permission error into a message that says what is going on.
FILE_FUNCTIONS = frozenset(
    {
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
        "parquet_file_metadata", "parquet_kv_metadata", "read_json", "read_json_auto", "read_json_objects",
        "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob", "glob",
        "sniff_csv", "read_xlsx", "sqlite_scan", "sqlite_attach", "iceberg_scan", "delta_scan",
        "postgres_scan", "mysql_scan", "read_avro",
    }
)  # fmt: skip

# PRAGMAs that only report; every other PRAGMA changes a setting or the database.
READ_PRAGMAS = frozenset(
    {
        "version", "platform", "database_list", "database_size", "show_tables", "show_tables_expanded",
        "table_info", "show", "storage_info", "functions", "collations", "metadata_info", "user_agent",
    }
)  # fmt: skip

_FILE_KINDS = {"COPY", "ATTACH", "INSTALL", "LOAD", "EXPORT", "IMPORT"}
_EXPLAIN = re.compile(r"^\s*explain\s*(\([^)]*\)\s*)?(analy[sz]e\b\s*)?", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[A-Za-z_]+")
# Only leading comments: stripping them anywhere would also cut '--' out of string literals.
_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def _body(query: str) -> str:
    return _LEADING_COMMENTS.sub("", query, count=1)


def _tokens(sql: str) -> list[tuple[int, int, str]]:
    """(start, end, type) of every token; the tokenizer knows strings, comments and quoted names."""
    try:
        raw = duckdb.tokenize(sql)
    except duckdb.Error as exc:
        raise QueryError(f"can't read the SQL: {exc}") from exc
    out: list[tuple[int, int, str]] = []
    for i, (start, kind) in enumerate(raw):
        end = raw[i + 1][0] if i + 1 < len(raw) else len(sql)
        text = sql[start:end].rstrip()
        out.append((start, start + len(text), kind.name))
    return out


def to_dollar_params(sql: str) -> str:
    """``:name`` -> ``$name``, leaving ``::`` casts, strings, comments, slices and struct keys alone."""
    tokens = _tokens(sql)
    chars = list(sql)
    for i, (start, end, kind) in enumerate(tokens[:-1]):
        if kind != "operator" or sql[start:end] != ":":
            continue
        nxt_start, nxt_end, nxt_kind = tokens[i + 1]
        if nxt_start != end or nxt_kind not in ("identifier", "keyword"):
            continue
        if not _NAME.fullmatch(sql[nxt_start:nxt_end]):
            continue
        if start > 0 and sql[start - 1] in _NOT_PARAM_AFTER:
            continue
        chars[start] = "$"
    return "".join(chars)


def _refuse_file_functions(sql: str) -> None:
    tokens = _tokens(sql)
    for i, (start, end, kind) in enumerate(tokens[:-1]):
        name = sql[start:end].lower()
        # glob is also an operator keyword, so the tokenizer may call it one
        if kind in ("identifier", "keyword") and name in FILE_FUNCTIONS and sql[tokens[i + 1][0]] == "(":
            raise QueryError(
                f"nhi query: file and network access from SQL is disabled ({name}() is refused); "
                f"query the evidence store's tables instead"
            )


def _kind(query: str) -> str:
    """The statement's leading keyword, e.g. INSERT, for messages."""
    body = _body(query)
    match = _FIRST_WORD.match(body)
    return match.group(0).upper() if match else "this"


def _refusal(kind: str) -> QueryError:
    extra = " (file and network access from SQL is disabled)" if kind in _FILE_KINDS else ""
    return QueryError(f"nhi query is read-only: {kind} statements are refused{extra}")


def _check(statement: duckdb.Statement) -> None:
    kind = _kind(statement.query)
    stype = statement.type
    if stype == duckdb.StatementType.SELECT:
        return
    if stype == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs its statement, so what it explains must be allowed too.
        inner = _EXPLAIN.sub("", _body(statement.query), count=1)
        try:
            inner_statements = duckdb.extract_statements(inner)
        except duckdb.Error as exc:
            raise QueryError(f"nhi query can't tell what this EXPLAIN runs: {exc}") from exc
        for sub in inner_statements:
            _check(sub)
        return
    if stype == duckdb.StatementType.PRAGMA:
        match = re.match(r"pragma\s+([A-Za-z_]+)", _body(statement.query), re.IGNORECASE)
        if match and match.group(1).lower() in READ_PRAGMAS:
            return
        name = match.group(1).lower() if match else "?"
        raise QueryError(
            f"nhi query is read-only: PRAGMA {name} is refused (only reporting pragmas are allowed)"
        )
    raise _refusal(kind)


def check_read_only(sql: str) -> list[duckdb.Statement]:
    """Parse ``sql`` ($-parameters already) and refuse anything that is not a read."""
    _refuse_file_functions(sql)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"nhi query: the SQL does not parse: {exc}") from exc
    if not statements:
        raise QueryError("nhi query: no SQL statement given")
    for statement in statements:
        _check(statement)
    return statements
