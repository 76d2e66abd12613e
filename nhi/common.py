"""Arguments and helpers every command shares."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from contract.errors import ConfigError
from contract.settings import DEFAULT_FINGERPRINT_KEY, Settings, load_settings
from ingest.formats import format_names
from ingest.networks import network_map
from store.store import Store

DEFAULT_DB = "./nhi-evidence.duckdb"

# Exit statuses shared by the commands (nhi.cli maps errors to EXIT_FAILED).
EXIT_OK = 0
EXIT_REJECTS = 1  # --strict: the input was processed, and some of it was rejected
EXIT_FAILED = 2  # the command could not proceed (bad arguments, input or store that can't be used)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=os.environ.get("NHI_DB", DEFAULT_DB),
        metavar="PATH",
        help=f"DuckDB evidence store (default: $NHI_DB or {DEFAULT_DB})",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from NHI_* variables and this command's options; the networks files are read here,
    so a missing or malformed one stops the command before it reads anything."""
    overrides: dict[str, object] = {"db": getattr(args, "db", None)}
    ranges, networks = getattr(args, "ip_ranges", None), getattr(args, "network", None)
    if ranges:
        overrides["provider_ranges"] = ",".join(ranges)
    if networks:
        overrides["own_networks"] = ",".join(networks)
    settings = load_settings(None, **overrides)
    network_map(settings)  # loaded once, at the edge; the engine reads the cached map
    return settings


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """Where addresses belong, for context-drift's workload credential signals."""
    p.add_argument(
        "--ip-ranges",
        action="append",
        metavar="FILE",
        help="a cloud provider's published IP ranges (AWS ip-ranges.json, Google cloud.json, Azure "
        "ServiceTags JSON; repeatable; default: $NHI_PROVIDER_RANGES). Workload credentials used "
        "from outside these and --network are findings. Nothing is downloaded at run time.",
    )
    p.add_argument(
        "--network",
        action="append",
        metavar="CIDR",
        help="one of your own networks: office egress, on-premises, cluster CIDRs (repeatable; "
        "default: $NHI_OWN_NETWORKS)",
    )


def open_store(path: str, read_only: bool = False) -> Store:
    return Store.open(path, read_only=read_only)


def add_format_arguments(p: argparse.ArgumentParser) -> None:
    """--format and --option, shared by every command that parses logs."""
    p.add_argument(
        "--format", "-f", default="native", choices=format_names(), help="input format (default: native)"
    )
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="parser option, e.g. cluster=prod-eu-1 for k8s-audit (repeatable)",
    )


def parse_options(pairs: list[str]) -> dict[str, str]:
    """--option KEY=VALUE pairs as a dict; a malformed pair is a clear error."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


@contextmanager
def discard_if_unused(db: str) -> Iterator[list[bool]]:
    """Remove the store file at ``db`` if this run created it and the block fails before setting
    ``used[0]`` (nothing was written): a run that could not start leaves no empty store behind."""
    path = Path(db)
    created = not path.exists()
    used = [False]
    try:
        yield used
    except BaseException:
        if created and not used[0]:
            for leftover in (path, Path(f"{db}.wal")):
                with suppress(OSError):
                    leftover.unlink()
        raise


def warn_default_key(settings: Settings, command: str, scratch: bool = False) -> None:
    """Say so on stderr when secrets are fingerprinted with the built-in key: anyone can recompute
    those fingerprints. Quiet for a scratch run (the demo, a replay into a store it creates)."""
    if scratch or settings.fingerprint_key != DEFAULT_FINGERPRINT_KEY:
        return
    print(
        f"nhi {command}: warning: secrets are fingerprinted with the built-in default key, which anyone "
        "can use to recompute them; set NHI_FINGERPRINT_KEY to a secret of your own (and keep it: "
        "fingerprints made with another key don't correlate)",
        file=sys.stderr,
    )
