"""Total accessors for untrusted decoded JSON: they never raise on a wrong type.

Real exports are hand-trimmed, re-keyed and re-typed in the wild (Panther lower-cases whole
objects, types account ids as numbers, drops fields), so parsers read through these and the worst
a malformed record can do is a missing value, which the parser then reports as a reject reason.

One convention: an absent, blank or mistyped value is ``None`` (``text``, ``as_int``), an
absent container is an empty one (``as_dict``, ``as_list``).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A non-blank string, stripped; integers are accepted because some exports type ids
    (AWS account ids, for one) as numbers. Anything else is None."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def first_text(value: Any) -> str | None:
    """``text``, or the first non-blank string of a list (Kubernetes ``user.extra`` values are lists)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.strip():
                return item.strip()
        return None
    return text(value)


_MISSING: Any = object()
_LOWERED: dict[tuple[Any, ...], dict[str, Any]] = {}
_LOWERED_MAX = 2048
_SHAPE_MAX = 64
_KEY_MAX = 64


def ci(obj: Any, *names: str) -> Any:
    """The first present key among ``names``, compared case-insensitively (Panther lower-cases keys)."""
    if not isinstance(obj, dict):
        return None
    for name in names:
        value = obj.get(name, _MISSING)
        if value is not _MISSING:
            return value
    if not obj:
        return None
    # A miss (an optional field that is absent) is the common case. Records of one kind share their
    # key sets, so the lower-cased key map is kept per key set rather than rebuilt on every miss;
    # it maps to the key, and the value is read from this record.
    shape = tuple(obj)
    lowered = _LOWERED.get(shape) if len(shape) <= _SHAPE_MAX else None
    if lowered is None:
        lowered = {k.lower(): k for k in shape if isinstance(k, str)}
        # Only ordinary shapes are kept (few, short keys) and only so many: hostile records can't
        # pin much memory here.
        if len(shape) <= _SHAPE_MAX and all(len(k) <= _KEY_MAX for k in lowered):
            if len(_LOWERED) >= _LOWERED_MAX:
                _LOWERED.clear()
            _LOWERED[shape] = lowered
    for name in names:
        found = lowered.get(name.lower(), _MISSING)
        if found is not _MISSING:
            return obj[found]
    return None


def dig(obj: Any, *path: str) -> Any:
    """``ci`` along a path of keys; None as soon as one is missing."""
    for key in path:
        obj = ci(obj, key)
        if obj is None:
            return None
    return obj


_INT_TEXT = re.compile(r"\s*-?\d{1,15}\s*")


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a decimal string of up to 15 digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    return None


def truthy(value: Any) -> bool:
    """Booleans arrive as true, "true", "True" or 1 depending on the exporter."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return value is True or (isinstance(value, int) and value == 1)


def host_of(addr: str) -> str:
    """'10.0.0.1:5432' -> '10.0.0.1', '[::1]:80' -> '::1'; bare IPv4/IPv6 addresses pass through."""
    addr = addr.strip()
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else addr
    if addr.count(":") == 1:
        return addr.split(":", 1)[0]
    return addr


def ip_or_none(value: Any) -> str | None:
    """Only real addresses go to ``context.ip``: CloudTrail writes service names
    (``lambda.amazonaws.com``) there, and those must not look like a new network location."""
    found = text(value)
    if found is None:
        return None
    # Callers repeat their addresses from record to record, and ipaddress parses in pure Python.
    # Anything longer than an address with a port is parsed uncached, so the cache stays small.
    return _cached_ip(found) if len(found) <= 64 else _canonical_ip(found)


_ZERO_PADDED = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _canonical_ip(value: str) -> str | None:
    host = host_of(value)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    # Anonymised exports pad octets with zeros ("035.249.253.232"); Python refuses those as
    # ambiguous (octal), but no log writer means octal: read them as decimal.
    if _ZERO_PADDED.fullmatch(host):
        try:
            return str(ipaddress.ip_address(".".join(str(int(o)) for o in host.split("."))))
        except ValueError:
            return None
    return None


_cached_ip = lru_cache(maxsize=4096)(_canonical_ip)
