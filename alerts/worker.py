"""One background delivery worker per destination: a bounded queue, retries with exponential
backoff, then dead letters. The pipeline only ever calls ``submit``, which never blocks: a full
queue dead-letters the alert at once, so a stuck destination costs memory up to ``queue_size``
and nothing else. Alerts are delivered in order per destination (a retrying alert holds the ones
behind it, which would fail the same way against a destination that is down).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from alerts.routing import Retry
from contract.errors import TransportError

_STOP = object()


class DeliveryError(TransportError):
    """One failed delivery. ``retryable`` False (e.g. HTTP 400) dead-letters without retrying;
    ``retry_after`` is how long the service asked us to wait (HTTP Retry-After), if it said."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Transport(Protocol):
    def send(self, record: dict[str, Any]) -> None:
        """Deliver one OCSF record or raise DeliveryError."""

    def close(self) -> None: ...


class DeadLetters:
    """Alerts that could not be delivered, one JSON object per line, with the error. Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.count = 0

    def add(self, destination: str, record: dict[str, Any], error: str, attempts: int) -> None:
        line = orjson.dumps(
            {
                "dead_at": datetime.now(UTC).isoformat(),
                "destination": destination,
                "error": error,
                "attempts": attempts,
                "alert": record,
            }
        )
        with self._lock, self.path.open("ab") as fh:
            fh.write(line + b"\n")
            self.count += 1


@dataclass(slots=True)
class WorkerStats:
    delivered: int = 0
    retries: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)  # the last few, for the summary


class DeliveryWorker:
    def __init__(
        self, name: str, transport: Transport, retry: Retry, dead: DeadLetters, queue_size: int = 1000
    ) -> None:
        self.name = name
        self.transport = transport
        self.retry = retry
        self.dead = dead
        self.stats = WorkerStats()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._abort = threading.Event()  # set when draining took too long: dead-letter the rest
        self._thread = threading.Thread(target=self._run, name=f"deliver-{name}", daemon=True)
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> bool:
        """Queue ``record``; False if it went to the dead letters because the queue was full."""
        try:
            self._queue.put_nowait(record)
            return True
        except queue.Full:
            self._dead(record, f"queue full ({self._queue.maxsize} alerts waiting for {self.name})", 0)
            return False

    def close(self, drain_timeout: float) -> WorkerStats:
        """Deliver what is queued within ``drain_timeout`` seconds; dead-letter whatever is left."""
        deadline = time.monotonic() + drain_timeout
        try:
            self._queue.put(_STOP, timeout=drain_timeout)
        except queue.Full:
            self._abort.set()  # the worker now empties the queue into the dead letters
            self._queue.put(_STOP)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join()
        self.transport.close()
        return self.stats

    def _dead(self, record: dict[str, Any], error: str, attempts: int) -> None:
        self.stats.dead += 1
        self.stats.errors = [*self.stats.errors[-4:], error]
        self.dead.add(self.name, record, error, attempts)

    @property
    def pending(self) -> int:
        """Alerts queued or being delivered: 0 means every submitted alert is delivered or dead-lettered."""
        return self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, dict)
                if self._abort.is_set():
                    self._dead(item, "not delivered before shutdown", 0)
                else:
                    self._deliver(item)
            finally:
                self._queue.task_done()

    def _deliver(self, record: dict[str, Any]) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                self.transport.send(record)
            except DeliveryError as exc:
                if not exc.retryable or attempts >= self.retry.attempts:
                    self._dead(record, str(exc), attempts)
                    return
                self.stats.retries += 1
                # wait() returns early when shutdown gives up on this destination; a service's own
                # Retry-After wins over a shorter backoff (capped, so a bad header can't stall us)
                delay = self.retry.delay(attempts)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.retry.max_backoff_s))
                if self._abort.wait(delay):
                    self._dead(record, f"{exc} (then shutdown before the next try)", attempts)
                    return
            except Exception as exc:  # a transport bug must not kill the worker and lose the queue
                self._dead(record, f"{type(exc).__name__}: {exc}", attempts)
                return
            else:
                self.stats.delivered += 1
                return
