"""What the Kafka worker counts, and its default app id."""

from __future__ import annotations

from dataclasses import dataclass

from transport.topics import Topics


def default_app_id(topics: Topics) -> str:
    """Consumer group and changelog prefix of the worker: ``nhi.worker`` for the default topics."""
    return f"{topics.prefix}worker"


@dataclass(slots=True)
class WorkerStats:
    events: int = 0  # valid events read from topics.events
    rejects: int = 0  # invalid ones, skipped (the sink stores them as rejects)
    resolver_ops: int = 0
    judged: int = 0  # (NHI, event) pairs released by the reorder buffers and stepped
    findings: int = 0  # finding changes sent
    trust: int = 0  # trust changes sent
    skipped: int = 0  # re-read after a restart and already applied
    late: int = 0
    held: int = 0  # waiting in the reorder buffers now
    first_in: float | None = None  # monotonic time of the first event batch
    last_out: float | None = None  # monotonic time of the last findings/trust send
