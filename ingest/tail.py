"""Following growing files, and a folder's new files, for ``nhi ingest --follow`` / ``--watch``.

Like ``tail -F``: only complete lines are read (a writer mid-line is waited for), a file that is
truncated or replaced (log rotation) is read again from its start, and in a watched folder every
file that appears is picked up. ``*.gz`` files can't be tailed, so in a folder they are read
whole once: write them elsewhere and move them in. Names starting with ``.`` or ending in
``.tmp``/``.part``/``~`` are skipped (files still being copied in).

Nothing is remembered across runs: a restarted ``--watch`` reads its files again, and the stable
event ids make the store ignore what it already has.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from contract.errors import NhiError
from ingest.sources import RawRecord, _decode, _expand, read_path

SKIP_SUFFIXES = (".tmp", ".part", "~", ".swp")


def wanted(path: Path) -> bool:
    name = path.name
    return not name.startswith(".") and not name.endswith(SKIP_SUFFIXES) and path.is_file()


@dataclass(slots=True)
class _Followed:
    path: Path
    fh: BinaryIO
    inode: int
    lineno: int = 0
    pending: bytes = field(default=b"")

    def close(self) -> None:
        self.fh.close()


class Tailer:
    """Yields records from ``paths`` (and from files appearing in ``directory``) as lines complete.

    ``stop`` is asked whenever there is nothing new to read; the iteration ends when it returns
    True. ``idle`` is called at the same moments, before sleeping: a consumer that batches uses
    it to hand over a partial batch instead of holding records while the source is quiet.
    """

    def __init__(
        self,
        paths: list[Path] | None = None,
        directory: Path | None = None,
        *,
        poll_s: float = 0.5,
        stop: Callable[[], bool] | None = None,
        idle: Callable[[], None] | None = None,
    ) -> None:
        self.paths = list(paths or [])
        self.directory = directory
        self.poll_s = poll_s
        self.stop = stop
        self.idle = idle
        self._followed: dict[Path, _Followed] = {}
        self._seen: set[Path] = set()
        for path in self.paths:
            if not path.is_file():
                raise NhiError(
                    f"{path}: no such file (--follow tails existing files; use --watch for a folder)"
                )
        if directory is not None and not directory.is_dir():
            raise NhiError(f"{directory}: not a directory")

    def __iter__(self) -> Iterator[RawRecord]:
        try:
            while True:
                got = False
                for rec in self._round():
                    got = True
                    yield rec
                if got:
                    continue
                if self.stop is not None and self.stop():
                    return
                if self.idle is not None:
                    self.idle()
                time.sleep(self.poll_s)
        finally:
            for f in self._followed.values():
                f.close()
            self._followed.clear()

    def _round(self) -> Iterator[RawRecord]:
        for path in self._new_paths():
            self._seen.add(path)
            if path.name.endswith(".gz"):
                yield from read_path(path)
            else:
                self._open(path)
        for f in list(self._followed.values()):
            yield from self._read_available(f)
            if self._check_rotation(f):
                yield from self._read_available(self._followed[f.path])

    def _new_paths(self) -> list[Path]:
        candidates = list(self.paths)
        if self.directory is not None:
            try:
                candidates += sorted(p for p in self.directory.iterdir() if wanted(p))
            except OSError as exc:
                raise NhiError(f"{self.directory}: can't list the folder: {exc}") from exc
        return [p for p in candidates if p not in self._seen]

    def _open(self, path: Path) -> bool:
        try:
            fh = path.open("rb")
        except OSError:
            self._seen.discard(path)  # vanished between listing and opening; try again next round
            return False
        self._followed[path] = _Followed(path, fh, os.fstat(fh.fileno()).st_ino)
        return True

    def _read_available(self, f: _Followed) -> Iterator[RawRecord]:
        while True:
            chunk = f.fh.readline()
            if not chunk:
                return
            f.pending += chunk
            if not f.pending.endswith(b"\n"):
                return  # a writer is mid-line; the rest comes in a later round
            f.lineno += 1
            line, f.pending = f.pending.strip(), b""
            if line:
                yield from _expand(_decode(line, f"{f.path}:{f.lineno}"))

    def _check_rotation(self, f: _Followed) -> bool:
        """True when ``f.path`` was reopened because the file under that name changed."""
        try:
            st = f.path.stat()
        except FileNotFoundError:
            if f.path not in self.paths:  # gone from the watched folder: stop following it
                f.close()
                del self._followed[f.path]
                self._seen.discard(f.path)
            return False
        if st.st_ino == f.inode and st.st_size >= f.fh.tell():
            return False
        # Rotated (a new file under the name) or truncated: read the new content from its start.
        f.close()
        del self._followed[f.path]
        return self._open(f.path)


def tail_stdin(
    stop: Callable[[], bool] | None = None, idle: Callable[[], None] | None = None, poll_s: float = 0.5
) -> Iterator[RawRecord]:
    """Lines of stdin until EOF or ``stop()``, calling ``idle`` whenever no input is waiting.

    A plain blocking read would hold a partly filled batch while a slow writer (``tail -f | nhi
    ingest -``) pauses, and could not notice ``stop``; select() lets both happen.
    """
    import select
    import sys

    fd = sys.stdin.buffer.fileno()
    pending = b""
    lineno = 0
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            if idle is not None:
                idle()
            while not ready:
                if stop is not None and stop():
                    return
                ready, _, _ = select.select([fd], [], [], poll_s)
        data = os.read(fd, 1 << 16)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            lineno += 1
            stripped = line.strip()
            if stripped:
                yield from _expand(_decode(stripped, f"stdin:{lineno}"))
    if pending.strip():  # a last line without a newline
        yield from _expand(_decode(pending.strip(), f"stdin:{lineno + 1}"))
