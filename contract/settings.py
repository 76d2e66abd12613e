"""Every threshold in one frozen object, read from ``NHI_*`` environment variables.

The settings table in docs/settings.md is generated from ``SETTINGS_DOC``; a test keeps the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta

from contract.errors import ConfigError

# Fine for the demo and for trying the tool on a scratch store; anyone can recompute fingerprints
# made with it, so a store meant to be kept needs a key of its own (see nhi.keycheck).
DEFAULT_FINGERPRINT_KEY = "nhi-evidence-default-key"


@dataclass(frozen=True, slots=True)
class Settings:
    # token-outlived-task
    max_overhang_s: float = 900.0
    grace_s: float = 60.0
    # context-drift
    learn_events: int = 20
    # ordering: events may arrive this far behind the newest one seen and still be applied in order
    reorder_window_s: float = 300.0
    # Kafka worker: a partition that received nothing for this long (wall time) releases all it holds
    idle_flush_s: float = 2.0
    # trust score: lifetimes above this count as long-lived
    long_lived_s: float = 86400.0
    # evidence ids kept per finding (the newest are kept, the first is always kept)
    evidence_cap: int = 20
    # event ids remembered per NHI to make re-delivery idempotent
    dedupe_window: int = 512
    # store
    db: str = "./nhi-evidence.duckdb"
    batch_size: int = 5000
    # collectors: key for fingerprinting secrets found in records (keyed BLAKE2b)
    fingerprint_key: str = DEFAULT_FINGERPRINT_KEY
    # collectors: a line (or whole-file JSON document) longer than this is a reject, read in chunks
    max_record_bytes: int = 64 * 1024 * 1024
    # context-drift, workload credentials: the providers' published IP ranges (comma-separated JSON
    # files) and the user's own networks (comma-separated CIDRs)
    provider_ranges: str = ""
    own_networks: str = ""
    # context-drift, someone else's seat: another principal's use of the same address this close in time
    seat_window_s: float = 3600.0

    @property
    def max_overhang(self) -> timedelta:
        return timedelta(seconds=self.max_overhang_s)

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.grace_s)

    @property
    def reorder_window(self) -> timedelta:
        return timedelta(seconds=self.reorder_window_s)

    @property
    def long_lived(self) -> timedelta:
        return timedelta(seconds=self.long_lived_s)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


SETTINGS_DOC: dict[str, str] = {
    "max_overhang_s": "token-outlived-task (a): a bound credential may outlive its task by this many seconds before it is a finding.",
    "grace_s": "token-outlived-task (b): a use of a bound credential this many seconds after its task ended is a finding.",
    "learn_events": "context-drift (b): without attested issuance or task starts, the baseline is learned from this many first events of the NHI.",
    "reorder_window_s": "Events arriving up to this many seconds (event time) behind the newest seen are still applied in order.",
    "idle_flush_s": "Kafka worker: a partition idle this many seconds (wall time) releases every event it holds for ordering, as replay does at the end of its input.",
    "long_lived_s": "Trust score: a credential living longer than this counts as long-lived.",
    "evidence_cap": "Evidence event ids kept per finding (the first and the newest).",
    "dedupe_window": "Event ids remembered per NHI so a re-delivered event is ignored (the store and the worker's partition marks catch older ones).",
    "db": "Path of the DuckDB evidence store (also --db).",
    "batch_size": "Rows per Arrow batch written to DuckDB.",
    "fingerprint_key": "Key for the keyed hash that replaces secrets found in records. Set your own for any store you keep: commands other than `demo` (and `replay` into a new store) warn while the built-in default is used.",
    "max_record_bytes": "A line, or a whole-file JSON document, longer than this becomes a reject (read in chunks: memory stays bounded).",
    "provider_ranges": "context-drift: cloud providers' published IP ranges, comma-separated JSON files (AWS ip-ranges.json, Google cloud.json, Azure ServiceTags); also --ip-ranges.",
    "own_networks": "context-drift: your own networks (office egress, on-premises, cluster CIDRs), comma-separated CIDRs; also --network.",
    "seat_window_s": "context-drift: a workload credential used from an address another principal used within this many seconds is in someone else's seat.",
}


def env_name(field_name: str) -> str:
    return "NHI_" + field_name.upper()


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``NHI_*`` variables (e.g. ``NHI_GRACE_S=30``), then explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(env_name(f.name))
        if raw is None or raw == "":
            continue
        kind = type(getattr(Settings(), f.name))
        try:
            values[f.name] = kind(raw)
        except ValueError as exc:
            raise ConfigError(f"{env_name(f.name)}={raw!r} is not a valid {kind.__name__}") from exc
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    for name in (
        "max_overhang_s",
        "grace_s",
        "reorder_window_s",
        "idle_flush_s",
        "long_lived_s",
        "seat_window_s",
    ):
        if getattr(s, name) < 0:
            raise ConfigError(f"{env_name(name)} must be >= 0")
    for name in ("learn_events", "evidence_cap", "dedupe_window", "batch_size", "max_record_bytes"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{env_name(name)} must be >= 1")
