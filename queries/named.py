"""Named queries as data: ``queries/sql/<name>.sql`` files with a comment header.

Header lines (before the SQL) look like::

    -- name: trust-leaderboard
    -- description: Identities by current trust score, lowest first ...
    --   (an indented comment line continues the previous description)
    -- param: limit: How many identities to show (default 20)
    -- param: nhi: The identity (required)

A param is required when its description says ``(required)``; ``(default X)`` gives its value when
it is not passed (as text: the SQL casts it); otherwise it defaults to NULL. The SQL refers to
params as ``:name``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from contract.errors import QueryError
from store.readonly import QueryResult, run_query

_HEADER = re.compile(r"^--\s?(?P<key>name|description|param):\s*(?P<value>.*)$")
_PARAM = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<description>.*)$")
_REQUIRED = re.compile(r"\(required\)", re.IGNORECASE)
_DEFAULT = re.compile(r"\(default:?\s+(?P<value>[^)]*)\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    description: str
    required: bool = False
    default: str | None = None


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    description: str
    params: list[Param]
    sql: str

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def bind(self, given: Mapping[str, object] | None) -> dict[str, object]:
        """Declared params with ``given`` values and defaults; QueryError for unknown or missing ones."""
        values = dict(given or {})
        declared = {p.name for p in self.params}
        unknown = sorted(set(values) - declared)
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise QueryError(
                f"query {self.name} has no parameter {', '.join(unknown)} (its parameters: {known})"
            )
        bound: dict[str, object] = {}
        for p in self.params:
            if p.name in values:
                bound[p.name] = values[p.name]
            elif p.required:
                raise QueryError(
                    f"query {self.name} needs parameter {p.name}: {p.description} (give {p.name}=VALUE)"
                )
            else:
                bound[p.name] = p.default
        return bound


def _param(value: str, origin: str) -> Param:
    match = _PARAM.match(value)
    if not match:
        raise QueryError(f"{origin}: bad param header {value!r}; expected '-- param: name: description'")
    description = match["description"].strip()
    default = _DEFAULT.search(description)
    return Param(
        name=match["name"],
        description=description,
        required=bool(_REQUIRED.search(description)),
        default=default["value"].strip() if default else None,
    )


def parse_named_query(text: str, origin: str = "<query>") -> NamedQuery:
    """Parse one query file; ``origin`` names it in errors."""
    lines = text.splitlines()
    name: str | None = None
    description: list[str] = []
    params: list[Param] = []
    last: str | None = None  # the header key a continuation line extends
    body_start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            body_start = i
            break
        header = _HEADER.match(stripped)
        if header:
            key, value = header["key"], header["value"].strip()
            if key == "name":
                name = value
            elif key == "description":
                description = [value]
            else:
                params.append(_param(value, origin))
            last = key
        elif last in ("description", "param"):
            more = stripped.lstrip("-").strip()
            if last == "description":
                description.append(more)
            else:
                p = params[-1]
                params[-1] = _param(f"{p.name}: {p.description} {more}", origin)
    sql = "\n".join(lines[body_start:]).strip()
    if not name:
        raise QueryError(f"{origin}: missing '-- name: ...' header")
    if not sql:
        raise QueryError(f"{origin}: no SQL after the header")
    return NamedQuery(name=name, description=" ".join(d for d in description if d), params=params, sql=sql)


@cache
def _shipped() -> tuple[NamedQuery, ...]:
    found: list[NamedQuery] = []
    for entry in sorted(resources.files("queries").joinpath("sql").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        query = parse_named_query(entry.read_text(encoding="utf-8"), origin=f"queries/sql/{entry.name}")
        if query.name != entry.name.removesuffix(".sql"):
            raise QueryError(
                f"queries/sql/{entry.name}: its name header says {query.name!r}; keep the two equal"
            )
        found.append(query)
    return tuple(found)


def load_named_queries() -> dict[str, NamedQuery]:
    """Every shipped named query by name, sorted by name."""
    return {q.name: q for q in _shipped()}


def get_named(name: str) -> NamedQuery:
    queries = load_named_queries()
    if name in queries:
        return queries[name]
    close = difflib.get_close_matches(name, list(queries), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise QueryError(f"unknown named query {name!r}{hint} (known: {', '.join(queries)})")


def run_named(db_path: str | Path, name: str, params: Mapping[str, object] | None = None) -> QueryResult:
    query = get_named(name)
    return run_query(db_path, query.sql, query.bind(params))
