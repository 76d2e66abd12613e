"""The registry of input formats: one dict, grep it to see what is supported.

``auto`` is not an entry: it sniffs each record against these, in this order.
"""

from __future__ import annotations

from ingest.native import parse_native, sniff_native
from ingest.parsing import Format

FORMATS: dict[str, Format] = {
    "native": Format("native", "nhi-evidence canonical events, one JSON object per line", parse_native, sniff_native),
}

AUTO = "auto"


def format_names() -> list[str]:
    return [*FORMATS, AUTO]
