"""Whose network an address is in: the cloud providers' published ranges, and the user's own.

Providers publish their address ranges as JSON; the user supplies the files (nothing is fetched at
run time) and names their own networks (office egress, on-premises, cluster CIDRs) as CIDRs:

- AWS: https://ip-ranges.amazonaws.com/ip-ranges.json (``prefixes[].ip_prefix``, ``ipv6_prefixes[].ipv6_prefix``)
- Google Cloud: https://www.gstatic.com/ipranges/cloud.json (``prefixes[].ipv4Prefix`` / ``ipv6Prefix``)
- Azure: the "Azure IP Ranges and Service Tags - Public Cloud" download, ServiceTags_Public_<date>.json
  (``values[].properties.addressPrefixes``)

``NHI_PROVIDER_RANGES`` (comma-separated paths) and ``NHI_OWN_NETWORKS`` (comma-separated CIDRs), or
``--ip-ranges`` / ``--network``, feed :func:`network_map`; context-drift asks it where a workload
credential was used from.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from contract.errors import ConfigError
from contract.settings import Settings

Interval = tuple[int, int, str]  # first address, last address, label


@dataclass(frozen=True, slots=True)
class NetworkMap:
    """Sorted, merged address intervals per IP version, each labelled with whose they are."""

    v4: tuple[Interval, ...] = ()
    v6: tuple[Interval, ...] = ()
    sources: tuple[str, ...] = field(default=())  # what was loaded, for messages

    @property
    def empty(self) -> bool:
        return not self.v4 and not self.v6

    def owner_of(self, address: str) -> str | None:
        """The label of the range holding ``address`` ("aws", "gcp", "azure", "own"), or None."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        table = self.v4 if ip.version == 4 else self.v6
        n = int(ip)
        at = bisect.bisect_right(table, (n, 1 << 130, "")) - 1
        if at >= 0 and table[at][0] <= n <= table[at][1]:
            return table[at][2]
        return None


def is_private(address: str) -> bool:
    """Private, loopback and link-local addresses: inside someone's own network by definition."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local


def _prefixes(doc: Any, path: str) -> tuple[str, list[str]]:
    """(label, CIDRs) of one provider file, recognised by its shape."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a provider IP ranges document (expected a JSON object)")
    prefixes = doc.get("prefixes")
    if isinstance(prefixes, list) and any(isinstance(p, dict) and "ip_prefix" in p for p in prefixes):
        found = [p.get("ip_prefix") for p in prefixes if isinstance(p, dict)]
        found += [p.get("ipv6_prefix") for p in doc.get("ipv6_prefixes") or [] if isinstance(p, dict)]
        return "aws", [c for c in found if isinstance(c, str)]
    if isinstance(prefixes, list):
        cidrs = [p.get("ipv4Prefix") or p.get("ipv6Prefix") for p in prefixes if isinstance(p, dict)]
        return "gcp", [c for c in cidrs if isinstance(c, str)]
    values = doc.get("values")
    if isinstance(values, list):
        tagged: list[str] = []
        for v in values:
            props = v.get("properties") if isinstance(v, dict) else None
            if isinstance(props, dict) and isinstance(props.get("addressPrefixes"), list):
                tagged.extend(c for c in props["addressPrefixes"] if isinstance(c, str))
        return "azure", tagged
    raise ConfigError(
        f"{path}: not an AWS ip-ranges.json, Google cloud.json or Azure ServiceTags file (no prefixes or values)"
    )


def _intervals(cidrs: list[tuple[str, str]]) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
    v4: list[Interval] = []
    v6: list[Interval] = []
    for cidr, label in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.broadcast_address), label))
    return _merged(v4), _merged(v6)


def _merged(items: list[Interval]) -> tuple[Interval, ...]:
    """Overlapping ranges of one label joined; where labels overlap, the user's own network wins."""
    items.sort(key=lambda i: (i[0], i[2] != "own"))
    out: list[Interval] = []
    for first, last, label in items:
        if out and first <= out[-1][1] + 1 and out[-1][2] == label:
            out[-1] = (out[-1][0], max(out[-1][1], last), label)
        elif out and first <= out[-1][1]:
            continue  # inside an earlier range of another label: the earlier (own first) keeps it
        else:
            out.append((first, last, label))
    return tuple(out)


@lru_cache(maxsize=8)
def load_networks(range_files: str, own_networks: str) -> NetworkMap:
    """The map for comma-separated provider files and own CIDRs (cached: loaded once per run)."""
    cidrs: list[tuple[str, str]] = []
    sources: list[str] = []
    for raw in (c.strip() for c in own_networks.split(",")):
        if not raw:
            continue
        try:
            ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise ConfigError(f"own network {raw!r} is not a CIDR (e.g. 203.0.113.0/24)") from None
        cidrs.append((raw, "own"))
    if cidrs:
        sources.append(f"{len(cidrs)} own network(s)")
    for path in (p.strip() for p in range_files.split(",")):
        if not path:
            continue
        try:
            doc = orjson.loads(Path(path).read_bytes())
        except OSError as exc:
            raise ConfigError(f"IP ranges file {path}: {exc.strerror or exc}") from None
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"IP ranges file {path}: not valid JSON ({exc})") from None
        label, found = _prefixes(doc, path)
        valid = []
        for c in found:
            try:
                ipaddress.ip_network(c, strict=False)
            except ValueError:
                continue  # one bad prefix in a provider's file must not refuse the rest
            valid.append((c, label))
        cidrs.extend(valid)
        sources.append(f"{path} ({label}, {len(valid)} prefixes)")
    v4, v6 = _intervals(cidrs)
    return NetworkMap(v4, v6, tuple(sources))


def network_map(settings: Settings) -> NetworkMap:
    return load_networks(settings.provider_ranges, settings.own_networks)
