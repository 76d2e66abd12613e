"""Alerts from the Kafka pipeline: the latest identity snapshot per NHI, fed by
``transport.findings_feed.consume_findings``, so routes can match on owner."""

from __future__ import annotations

from alerts.context import NhiContext
from contract.records import IdentityRow


class IdentityCache:
    """Latest identity snapshot per NHI, from the compacted trust topic."""

    def __init__(self) -> None:
        self.known: dict[str, NhiContext] = {}

    def remember(self, ident: IdentityRow) -> None:
        self.known[ident.nhi] = NhiContext(ident.owner, ident.owner_status, None, None, ident.trust)

    def lookup(self, nhi: str) -> NhiContext:
        return self.known.get(nhi, NhiContext())
