"""Reading raw records from files and stdin, each with the location it came from.

Handles JSON lines, whole JSON documents (a list, or CloudTrail's ``{"Records": [...]}``),
gzip, and text lines. Decoding is attempted once here so parsers receive Python values.
"""

from __future__ import annotations

import gzip
import io
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from contract.errors import NhiError

NOT_JSON: Any = object()  # sentinel: the line did not decode as JSON


@dataclass(slots=True)
class RawRecord:
    raw: bytes  # the original bytes, kept for reject rows
    value: Any  # decoded JSON value, or NOT_JSON
    location: str
    error: str | None = None  # the JSON decode error, when value is NOT_JSON

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")


def _decode(raw: bytes, location: str) -> RawRecord:
    try:
        return RawRecord(raw, orjson.loads(raw), location)
    except orjson.JSONDecodeError as exc:
        return RawRecord(raw, NOT_JSON, location, f"not valid JSON: {exc}")


def _expand(rec: RawRecord) -> Iterator[RawRecord]:
    """A CloudTrail-style envelope on one line becomes one record per entry."""
    value = rec.value
    if isinstance(value, dict) and isinstance(value.get("Records"), list) and len(value) <= 2:
        for i, item in enumerate(value["Records"]):
            yield RawRecord(orjson.dumps(item), item, f"{rec.location}#{i}")
    else:
        yield rec


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_lines(stream: Iterable[bytes], name: str) -> Iterator[RawRecord]:
    # _decode and _expand, inlined: this loop runs once per line of every input, and for small
    # records its calls cost as much as the JSON decoding.
    loads = orjson.loads
    for lineno, line in enumerate(stream, 1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = loads(stripped)
        except orjson.JSONDecodeError as exc:
            yield RawRecord(stripped, NOT_JSON, f"{name}:{lineno}", f"not valid JSON: {exc}")
            continue
        if type(value) is dict and "Records" in value:
            yield from _expand(RawRecord(stripped, value, f"{name}:{lineno}"))
        else:
            yield RawRecord(stripped, value, f"{name}:{lineno}")


def read_path(path: Path) -> Iterator[RawRecord]:
    """Records of one file. A file whose first line is not JSON but starts like a JSON
    document is read whole (pretty-printed CloudTrail); otherwise line by line."""
    if not path.exists():
        raise NhiError(f"{path}: no such file")
    if path.is_dir():
        raise NhiError(f"{path}: is a directory (pass the files, e.g. {path}/*.jsonl)")
    with _open(path) as fh:
        first = fh.readline()
        head = first.lstrip()[:1]
        if head in (b"{", b"["):
            try:
                orjson.loads(first)
            except orjson.JSONDecodeError:
                rest = first + fh.read()
                try:
                    doc = orjson.loads(rest)
                except orjson.JSONDecodeError:
                    doc = NOT_JSON
                if doc is not NOT_JSON:
                    yield from _document(doc, str(path))
                    return
                yield from read_lines(io.BytesIO(rest), str(path))
                return
        yield from read_lines(_chain(first, fh), str(path))


def _chain(first: bytes, fh: BinaryIO) -> Iterator[bytes]:
    yield first
    yield from fh


def _document(doc: Any, name: str) -> Iterator[RawRecord]:
    items: list[Any]
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        items = doc["Records"]
    elif isinstance(doc, list):
        items = doc
    else:
        items = [doc]
    for i, item in enumerate(items):
        yield RawRecord(orjson.dumps(item), item, f"{name}#{i}")


def read_stdin() -> Iterator[RawRecord]:
    yield from read_lines(sys.stdin.buffer, "stdin")


def read_inputs(inputs: list[str]) -> Iterator[RawRecord]:
    """``-`` is stdin; anything else a file path."""
    for item in inputs:
        if item == "-":
            yield from read_stdin()
        else:
            yield from read_path(Path(item))


def follow_path(path: Path, poll_s: float = 0.5, stop: Any = None) -> Iterator[RawRecord]:
    """Tail a growing file (like ``tail -F``): yields complete lines as they are appended.

    ``stop`` is an optional callable; the generator ends when it returns True.
    """
    lineno = 0
    pending = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.readline()
            if chunk:
                pending += chunk
                if not pending.endswith(b"\n"):
                    continue  # a writer is mid-line; wait for the rest
                lineno += 1
                line, pending = pending.strip(), b""
                if line:
                    yield from _expand(_decode(line, f"{path}:{lineno}"))
                continue
            if stop is not None and stop():
                return
            time.sleep(poll_s)
