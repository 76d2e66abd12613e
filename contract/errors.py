"""The one exception root. Boundaries (CLI, worker, sink) catch ``NhiError`` and turn it into
a message, a reject row or a dead letter; anything else escaping is a bug."""

from __future__ import annotations


class NhiError(Exception):
    """Root of every error nhi-evidence raises on purpose."""


class RecordRejected(NhiError):
    """A record that can't become canonical events. ``reason`` is what the reject row shows."""

    def __init__(self, reason: str, *, location: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location


class RecordSkipped(NhiError):
    """A valid record that concerns no non-human identity (a person's request that touches no NHI,
    an AWS service acting for itself). Not a reject: it is counted per source and ``reason``, so
    coverage stays visible."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(NhiError):
    """A setting or config file that can't be used as given."""


class StoreError(NhiError):
    """The evidence store can't be opened, migrated or written."""


class QueryError(NhiError):
    """A query that is refused (not read-only, unknown name, missing parameter) or fails."""


class TransportError(NhiError):
    """Kafka or another transport failed in a way the run can't recover from."""
