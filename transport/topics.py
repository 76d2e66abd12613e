"""Kafka topic names and layout. One place, so the collectors, worker and sink agree."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_PREFIX = "nhi."
DEFAULT_PARTITIONS = 8


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = DEFAULT_PREFIX
    partitions: int = DEFAULT_PARTITIONS

    @property
    def events(self) -> str:
        """Canonical events from the collectors; key = NHI, or the task/credential/owner."""
        return self.prefix + "events"

    @property
    def dlq(self) -> str:
        """Records that could not be parsed: raw bytes (secrets fingerprinted) + error headers."""
        return self.prefix + "events.dlq"

    @property
    def resolver(self) -> str:
        """Repartition by task/credential/owner key: index updates and key-routed events."""
        return self.prefix + "resolver"

    @property
    def by_identity(self) -> str:
        """Repartition by NHI: every event routed to each NHI it concerns."""
        return self.prefix + "by-identity"

    @property
    def findings(self) -> str:
        """Finding changes (create/update/close); key = NHI."""
        return self.prefix + "findings"

    @property
    def trust(self) -> str:
        """Trust changes with the identity snapshot; compacted, key = NHI."""
        return self.prefix + "trust"

    @property
    def entities(self) -> str:
        """Credential and task snapshots; compacted, key = kind + id."""
        return self.prefix + "entities"

    @property
    def stats(self) -> str:
        """What ingest skipped (records about no NHI) per input, collector and reason; compacted."""
        return self.prefix + "ingest-stats"

    def compacted(self) -> set[str]:
        return {self.trust, self.entities, self.stats}

    def all(self) -> list[str]:
        return [
            self.events,
            self.dlq,
            self.resolver,
            self.by_identity,
            self.findings,
            self.trust,
            self.entities,
            self.stats,
        ]


def topics_from_env() -> Topics:
    return Topics(
        prefix=os.environ.get("NHI_TOPIC_PREFIX", DEFAULT_PREFIX),
        partitions=int(os.environ.get("NHI_TOPIC_PARTITIONS", str(DEFAULT_PARTITIONS))),
    )
