"""Rendering a QueryResult: aligned table, CSV, JSON (one array), JSON lines or Parquet."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import orjson

from contract.errors import QueryError
from store.readonly import QueryResult

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
TABLE_CELL_MAX = 80  # longer cells are cut in the table view only; csv/json keep everything

_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _iso(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _text(value: Any) -> str:
    """One cell as text for table and csv."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _parsed(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value  # not valid JSON after all: keep the text


def _objects(result: QueryResult) -> list[dict[str, Any]]:
    """Row objects for JSON; columns of DuckDB type JSON are embedded as JSON, not as strings."""
    json_columns = {i for i, t in enumerate(result.types) if t == "JSON"}
    rows: list[dict[str, Any]] = []
    for row in result.rows:
        obj: dict[str, Any] = {}
        for i, (name, value) in enumerate(zip(result.columns, row, strict=True)):
            obj[name] = _parsed(value) if i in json_columns else value
        rows.append(obj)
    return rows


def render_json(result: QueryResult) -> str:
    return orjson.dumps(_objects(result), default=_json_default, option=_JSON_OPTIONS).decode() + "\n"


def render_jsonl(result: QueryResult) -> str:
    return "".join(
        orjson.dumps(obj, default=_json_default, option=_JSON_OPTIONS).decode() + "\n"
        for obj in _objects(result)
    )


def render_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_text(v) for v in row] for row in result.rows)
    return buffer.getvalue()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def render_table(result: QueryResult) -> str:
    def cell(value: Any) -> str:
        text = " ".join(_text(value).split()) if isinstance(value, str) else _text(value)
        return text if len(text) <= TABLE_CELL_MAX else text[: TABLE_CELL_MAX - 1] + "…"

    cells = [[cell(v) for v in row] for row in result.rows]
    widths = [len(c) for c in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        bool(result.rows) and all(_is_number(r[i]) or r[i] is None for r in result.rows)
        for i in range(len(widths))
    ]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(list(result.columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    count = len(result.rows)
    out.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(out) + "\n"


RENDERERS: dict[str, Callable[[QueryResult], str]] = {
    "table": render_table,
    "csv": render_csv,
    "json": render_json,
    "jsonl": render_jsonl,
}


def render(result: QueryResult, fmt: str) -> str:
    """A text format as one string; parquet is binary and needs write_result with a path."""
    if fmt == "parquet":
        raise QueryError("parquet output needs an output file (e.g. --output result.parquet)")
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise QueryError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderer(result)


def write_parquet(result: QueryResult, path: str | Path) -> None:
    import pyarrow.parquet as pq  # only this format needs it; keeps `nhi query` startup light

    try:
        pq.write_table(result.to_arrow(), str(path))
    except OSError as exc:
        raise QueryError(f"can't write {path}: {exc}") from exc


def write_result(
    result: QueryResult, fmt: str, *, path: str | Path | None = None, stream: TextIO | None = None
) -> None:
    """Write ``result`` as ``fmt`` to ``path`` if given, else to ``stream`` (text formats only)."""
    if fmt == "parquet":
        if path is None:
            raise QueryError("parquet output needs an output file (e.g. --output result.parquet)")
        write_parquet(result, path)
        return
    text = render(result, fmt)
    if path is not None:
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise QueryError(f"can't write {path}: {exc}") from exc
    elif stream is not None:
        stream.write(text)
    else:
        raise QueryError("write_result needs a path or a stream")
