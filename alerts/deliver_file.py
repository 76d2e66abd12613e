"""JSONL file destination: one OCSF record per line, appended and flushed per alert."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO, Any

import orjson

from alerts.worker import DeliveryError


class JsonlTransport:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] | None = None

    def send(self, record: dict[str, Any]) -> None:
        try:
            if self._fh is None:
                self._fh = self.path.open("ab")
            self._fh.write(orjson.dumps(record) + b"\n")
            self._fh.flush()
        except OSError as exc:
            self.close()  # reopen on the next try (e.g. the file was rotated away)
            raise DeliveryError(f"can't append to {self.path}: {exc}") from exc

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            with contextlib.suppress(OSError):
                fh.close()
