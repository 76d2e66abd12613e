"""What a parser is: a pure function from one raw record to canonical events.

A parser raises ``RecordRejected`` for input it can't use; the reader turns that (and any other
mistake in a parser) into a ``Reject`` row, so one bad record never stops a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract.events import Event
from contract.settings import Settings


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser may need beyond the record itself."""

    settings: Settings
    location: str | None = None
    # Source-specific options, e.g. {"cluster": "prod-eu-1"} for Kubernetes audit.
    options: dict[str, str] = field(default_factory=dict)


# A decoded record: a JSON value for JSON formats, the raw line for text formats (SPIRE logs).
RawValue = Any
ParseFn = Callable[[RawValue, ParseContext], list[Event]]
SniffFn = Callable[[RawValue], bool]


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    description: str
    parse: ParseFn
    # True when this format recognises the record; used by --format auto.
    sniff: SniffFn
    # "json": records are JSON values (lines, arrays, or {"Records": [...]}); "text": raw lines.
    decode: str = "json"
