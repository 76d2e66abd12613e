"""The store's Arrow schemas, derived from the row types in ``contract`` (one schema, not three).

A row type's fields, in order, are its table's columns: ``str`` is a string, ``int`` a 64-bit
integer (32-bit where the field carries ``contract.records.INT32``), ``bool`` a boolean,
``datetime`` a UTC timestamp, ``list[str]`` a list of strings, a ``Literal`` the type of its values;
``X | None`` is nullable. ``tests/test_schema.py`` holds the migrations' tables to these.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, Literal

import pyarrow as pa

from contract.events import Event

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()

_SCALARS: dict[Any, pa.DataType] = {str: STR, bool: pa.bool_(), datetime: TS, float: pa.float64()}


def arrow_type(hint: Any, metadata: typing.Mapping[str, Any]) -> tuple[pa.DataType, bool]:
    """(Arrow type, nullable) of one field's type hint."""
    args = typing.get_args(hint)
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        nullable = len(rest) < len(args)
        if len(rest) != 1:
            raise TypeError(f"unsupported union {hint!r}")
        hint = rest[0]
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if isinstance(hint, type) and issubclass(hint, datetime):
        return TS, nullable
    if typing.get_origin(hint) is Literal:
        hint = type(typing.get_args(hint)[0])
    if hint is int:
        return (pa.int32() if metadata.get("int_bits") == 32 else pa.int64()), nullable
    if typing.get_origin(hint) is list and typing.get_args(hint) == (str,):
        return pa.list_(STR), nullable
    if hint in _SCALARS:
        return _SCALARS[hint], nullable
    raise TypeError(f"no Arrow column for {hint!r}")


@cache
def event_scalars() -> pa.Schema:
    """The ``events`` table's scalar columns: the contract's fields but ``context`` and ``attrs``
    (a struct and JSON text, converted by the writer), in the contract's order."""
    columns = []
    hints = typing.get_type_hints(Event)  # Annotated metadata (descriptions) stripped
    for f in dataclasses.fields(Event):
        name = f.name
        if name in ("context", "attrs"):
            continue
        hint = hints[name]
        base = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        if isinstance(base[0], type) and issubclass(base[0], StrEnum):
            hint = str if base[0] is hint else str | None
        kind, nullable = arrow_type(hint, {})
        columns.append(pa.field(name, kind, nullable))
    return pa.schema(columns)


@cache
def arrow_schema(row_type: type, skip: frozenset[str] = frozenset()) -> pa.Schema:
    """The Arrow schema of a row dataclass (``skip``: fields that are not columns)."""
    hints = typing.get_type_hints(row_type)
    columns = []
    for f in dataclasses.fields(row_type):
        if f.name in skip:
            continue
        kind, nullable = arrow_type(hints[f.name], f.metadata)
        columns.append(pa.field(f.name, kind, nullable))
    return pa.schema(columns)


def rows_table(rows: Sequence[Any], row_type: type, skip: frozenset[str] = frozenset()) -> pa.Table:
    """``rows`` (instances of ``row_type``) as an Arrow table, one comprehension per column."""
    schema = arrow_schema(row_type, skip)
    return pa.table([pa.array([getattr(r, f.name) for r in rows], f.type) for f in schema], schema=schema)
