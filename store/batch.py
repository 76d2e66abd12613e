"""One unit of writing: everything the pipeline produced since the last flush.

``Store.write`` commits a Batch in one transaction, so events, the findings and trust changes
they caused, the engine snapshot and the Kafka offsets are stored together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from contract.events import Event
from contract.records import Finding, Snapshots, TrustChange
from contract.rejects import Reject

# (consumer group, topic, partition) -> next offset to consume
OffsetKey = tuple[str, str, int]
SkipKey = tuple[str, str, str]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Batch:
    events: list[Event] = field(default_factory=list)
    ingested_at: datetime = field(default_factory=_now)
    rejects: list[Reject] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    trust: list[TrustChange] = field(default_factory=list)
    snapshots: Snapshots = field(default_factory=Snapshots)
    # None = leave the stored value alone (not "erase it")
    engine_state: dict[str, bytes] | None = None
    offsets: dict[OffsetKey, int] | None = None
    # (origin, source, reason) -> records that concern no NHI, as counted for that whole input
    skipped: dict[SkipKey, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.events
            or self.rejects
            or self.findings
            or self.trust
            or self.snapshots
            or self.engine_state
            or self.offsets
            or self.skipped
        )
