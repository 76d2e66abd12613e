"""Reading raw records from files and stdin, each with the location it came from.

Handles JSON lines, whole JSON documents (pretty-printed), JSON arrays (on one line or whole),
the envelopes ``{"Records": [...]}`` (CloudTrail), ``{"records": [...]}`` (Azure diagnostic
exports) and ``{"value": [...]}`` (Microsoft Graph), gzip, a UTF-8 byte order mark, UTF-16 text,
and text lines. Decoding is attempted once here so parsers receive Python values.

Damaged input never stops a run: a truncated or corrupt gzip, a file that can't be read and a
line over the size limit each become one record with ``damage`` set (the collector turns it into
a reject with its location), and reading goes on with the next file. Memory stays bounded: a
line or document longer than the limit is skipped in chunks, never held whole.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import orjson

from contract.errors import NhiError

NOT_JSON: Any = object()  # sentinel: the line did not decode as JSON
DEFAULT_LIMIT = 64 * 1024 * 1024  # Settings.max_record_bytes
BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
HEAD_KEPT = 4096  # bytes of an over-long line kept in its reject
_CHUNK = 1 << 20
# Errors of a damaged file: gzip data cut short (EOFError) or corrupt (BadGzipFile is an
# OSError, zlib.error), or a read that fails (EIO on a bad disk, a file removed under us).
READ_ERRORS = (EOFError, OSError, zlib.error)
# Keys other than the list that an envelope may carry: Graph's paging links and counts.
_GRAPH_EXTRA = re.compile(r"@odata\.\w+|nextLink|count")
# A token cut by the end of a kept head: dropped, so a secret split there can't leak half of itself.
_CUT_TOKEN = re.compile(rb"[A-Za-z0-9+/=_.~-]+$")


@dataclass(slots=True)
class RawRecord:
    raw: bytes  # the original bytes, kept for reject rows
    value: Any  # decoded JSON value, or NOT_JSON
    location: str
    error: str | None = None  # the JSON decode error, when value is NOT_JSON
    # Set when the input could not be read here (corrupt gzip, unreadable file, line too long):
    # the collector rejects the record with this reason, without trying a parser.
    damage: str | None = None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")


def damaged(location: str, reason: str, raw: bytes = b"") -> RawRecord:
    return RawRecord(raw, NOT_JSON, location, reason, reason)


class Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class _HasReadline(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def _decode(raw: bytes, location: str) -> RawRecord:
    try:
        return RawRecord(raw, orjson.loads(raw), location)
    except orjson.JSONDecodeError as exc:
        return RawRecord(raw, NOT_JSON, location, f"not valid JSON: {exc}")


def envelope_items(value: Any) -> list[Any] | None:
    """The records a JSON value wraps: a list's items, or the list of a known envelope."""
    if type(value) is list:
        return value
    if type(value) is not dict:
        return None
    records = value.get("Records")
    if type(records) is list and len(value) <= 2:  # CloudTrail; digest files add one more key
        return records
    for name in ("records", "value"):
        items = value.get(name)
        if type(items) is list and all(k == name or _GRAPH_EXTRA.fullmatch(k) for k in value):
            return items
    return None


def _expand(rec: RawRecord) -> Iterator[RawRecord]:
    """An array or envelope on one line becomes one record per entry."""
    items = envelope_items(rec.value) if rec.value is not NOT_JSON else None
    if items is None:
        yield rec
        return
    for i, item in enumerate(items):
        yield RawRecord(_dumps(item), item, f"{rec.location}#{i}")


def _dumps(item: Any) -> bytes:
    try:
        return orjson.dumps(item)
    except (TypeError, ValueError):  # ints past 64 bits decode but don't encode
        return repr(item).encode("utf-8", "replace")


def too_long(location: str, head: bytes, size: int, limit: int) -> RawRecord:
    kept = _CUT_TOKEN.sub(b"", head[:HEAD_KEPT])
    reason = (
        f"record of {size} bytes or more is over the limit of {limit} bytes (NHI_MAX_RECORD_BYTES); "
        "it was skipped without being read whole"
    )
    return damaged(location, reason, kept + f" ...[{size - len(kept)} more bytes not kept]".encode())


@dataclass(frozen=True, slots=True)
class _Oversized:
    head: bytes
    size: int  # bytes read before giving up (the line is at least this long)


def _bounded_lines(fh: Lines, limit: int) -> Iterator[bytes | _Oversized]:
    """Lines of ``fh``; a line longer than ``limit`` is skipped in chunks and yields its head."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        head, size = line[:HEAD_KEPT], len(line)
        del line
        while True:
            more = fh.readline(_CHUNK)
            size += len(more)
            if not more or more.endswith(b"\n"):
                break
        yield _Oversized(head, size)


def _checked(lines: Iterable[bytes], limit: int) -> Iterator[bytes | _Oversized]:
    """Lines already in memory (a list, an iterator of lines): the same limit, applied after."""
    for line in lines:
        yield line if len(line) <= limit + 1 else _Oversized(line[:HEAD_KEPT], len(line))


def read_lines(stream: Lines | Iterable[bytes], name: str, limit: int = DEFAULT_LIMIT) -> Iterator[RawRecord]:
    """Records of a line stream. A read error ends the stream with one damaged record."""
    # _decode and _expand, inlined: this loop runs once per line of every input, and for small
    # records its calls cost as much as the JSON decoding.
    loads = orjson.loads
    lines = _bounded_lines(stream, limit) if isinstance(stream, _HasReadline) else _checked(stream, limit)
    lineno = 0
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except READ_ERRORS as exc:
            yield damaged(f"{name}:{lineno + 1}", f"input damaged after line {lineno}: {describe(exc)}")
            return
        lineno += 1
        if type(line) is not bytes:
            yield too_long(f"{name}:{lineno}", line.head, line.size, limit)  # type: ignore[union-attr]
            continue
        stripped = line.strip()
        if lineno == 1 and stripped.startswith(BOM):
            stripped = stripped[len(BOM) :].strip()
        if not stripped:
            continue
        try:
            value = loads(stripped)
        except orjson.JSONDecodeError as exc:
            yield RawRecord(stripped, NOT_JSON, f"{name}:{lineno}", f"not valid JSON: {exc}")
            continue
        if type(value) is dict or type(value) is list:
            yield from _expand(RawRecord(stripped, value, f"{name}:{lineno}"))
        else:
            yield RawRecord(stripped, value, f"{name}:{lineno}")


def describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return f"the compressed data ends early ({exc})"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"corrupt compressed data ({exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"read failed: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


class _Utf16Lines:
    """UTF-16 text (PowerShell's default for ``>``) read as UTF-8 lines."""

    def __init__(self, fh: BinaryIO) -> None:
        self._text = io.TextIOWrapper(fh, encoding="utf-16", errors="replace")

    def readline(self, size: int = -1, /) -> bytes:
        # size counts characters here; a character is 1-4 UTF-8 bytes, so the limit holds within 4x
        return self._text.readline(size).encode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._text.close()


def _open(path: Path) -> tuple[BinaryIO, bytes]:
    """The file (gunzipped when it is gzip) and its first bytes, for sniffing."""
    fh: BinaryIO = path.open("rb")
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        fh = gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[assignment]
    return fh, magic


def read_path(path: Path, limit: int = DEFAULT_LIMIT) -> Iterator[RawRecord]:
    """Records of one file. A file whose first line is not JSON but starts like a JSON
    document is read whole (pretty-printed CloudTrail, a Graph export); otherwise line by line.
    A file that can't be opened or read is one damaged record, never an exception."""
    name = str(path)
    try:
        fh, _ = _open(path)
    except OSError as exc:
        yield damaged(name, f"can't read {path}: {exc.strerror or exc}")
        return
    with fh:
        yield from _read_open(fh, name, limit)


def _read_open(fh: BinaryIO, name: str, limit: int) -> Iterator[RawRecord]:
    try:
        start = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
    except READ_ERRORS as exc:
        yield damaged(f"{name}:1", f"input damaged at its start: {describe(exc)}")
        return
    if start[:2] in _UTF16_BOMS:
        yield from read_lines(_Utf16Lines(fh), name, limit)
        return
    try:
        first = fh.readline(limit + 1)
    except READ_ERRORS as exc:
        yield damaged(f"{name}:1", f"input damaged at its start: {describe(exc)}")
        return
    head = first.lstrip(BOM).lstrip()[:1]
    if head in (b"{", b"[") and first.endswith(b"\n") and _not_json(first):
        # maybe a pretty-printed document: read it whole, within the limit
        try:
            rest = first + fh.read(limit + 1 - len(first))
            more = fh.read(1)
        except READ_ERRORS as exc:
            yield damaged(f"{name}:1", f"input damaged inside a JSON document: {describe(exc)}")
            return
        if more:
            yield too_long(f"{name}:1", rest, len(rest) + 1, limit)
            return
        try:
            doc = orjson.loads(rest.lstrip(BOM) if rest.startswith(BOM) else rest)
        except orjson.JSONDecodeError:
            yield from read_lines(io.BytesIO(rest), name, limit)
            return
        yield from _document(doc, name)
        return
    yield from read_lines(_Rewound(first, fh), name, limit)


def _not_json(line: bytes) -> bool:
    try:
        orjson.loads(line.lstrip(BOM) if line.startswith(BOM) else line)
    except orjson.JSONDecodeError:
        return True
    return False


class _Rewound:
    """A file whose first line was already read: that line first, then the rest."""

    def __init__(self, first: bytes, fh: BinaryIO) -> None:
        self._first: bytes | None = first
        self._fh = fh

    def readline(self, size: int = -1, /) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return self._fh.readline(size)


def _document(doc: Any, name: str) -> Iterator[RawRecord]:
    items = envelope_items(doc)
    if items is None:
        items = [doc]
    for i, item in enumerate(items):
        yield RawRecord(_dumps(item), item, f"{name}#{i}")


def read_stdin(limit: int = DEFAULT_LIMIT) -> Iterator[RawRecord]:
    yield from read_lines(sys.stdin.buffer, "stdin", limit)


def read_inputs(inputs: list[str], limit: int = DEFAULT_LIMIT) -> Iterator[RawRecord]:
    """``-`` is stdin; anything else a file path."""
    for item in inputs:
        if item == "-":
            yield from read_stdin(limit)
        else:
            yield from read_path(Path(item), limit)


def check_inputs(inputs: list[str]) -> None:
    """Before anything is opened or created: every named file exists and is not a directory.
    A typo fails the run at once (nothing read, no store created); a file that exists but can't
    be read becomes a reject when its turn comes."""
    for item in inputs:
        if item == "-":
            continue
        path = Path(item)
        if path.is_dir():
            raise NhiError(f"{path}: is a directory (pass the files, e.g. {path}/*.jsonl)")
        if not path.exists():
            raise NhiError(f"{path}: no such file")


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
