"""Never store a secret: secret values found in records are replaced by a keyed fingerprint.

Values are fingerprinted when their key names a secret (ingest.secret_names: any case, any
separator), when they look like one under any key (ingest.secret_text: JWTs, private keys,
GitHub, Slack, Vault and AWS tokens, ...), and inside strings that hold JSON or free text. The
fingerprint is a keyed BLAKE2b, so the same token always maps to the same value (it can still
be correlated) but can't be recovered or brute-forced without the key.
"""

from __future__ import annotations

from typing import Any

import orjson

from ingest.secret_names import names_a_secret
from ingest.secret_text import FINGERPRINT_PREFIX, fingerprint, quiet, scrub_text

__all__ = [
    "EMPTY_VALUES",
    "FINGERPRINT_PREFIX",
    "MAX_DEPTH",
    "fingerprint",
    "is_secret_key",
    "quiet",
    "scrub",
    "scrub_all",
    "scrub_free",
    "scrub_text",
]

# Values under a secret key that are left as they are: nothing to hide.
EMPTY_VALUES: tuple[Any, ...] = (None, "", [], {})
# Containers nested deeper than this are replaced whole: no record needs it, and walking
# hostile nesting must not exhaust the stack.
MAX_DEPTH = 64
TOO_DEEP = f"[nested deeper than {MAX_DEPTH} levels: not kept]"
# A Kubernetes Secret object's values are secrets whatever their keys.
_K8S_SECRET_FIELDS = frozenset({"data", "stringData"})

_KEY_VERDICTS: dict[str, bool] = {}
_KEY_VERDICTS_MAX = 8192


def is_secret_key(name: str) -> bool:
    verdict = _KEY_VERDICTS.get(name)
    if verdict is None:
        verdict = names_a_secret(name)
        # Record keys come from a small vocabulary, so remembering verdicts saves the string work
        # on every key of every record; the bounds keep hostile input from growing it without end.
        if len(name) <= 64:
            if len(_KEY_VERDICTS) >= _KEY_VERDICTS_MAX:
                _KEY_VERDICTS.clear()
            _KEY_VERDICTS[name] = verdict
    return verdict


def _hide(value: Any, key: str) -> Any:
    """The fingerprint of a value under a secret key (containers are hidden whole)."""
    if isinstance(value, bool):
        return value  # a flag ("secret": true) is no secret
    if isinstance(value, str):
        return value if value.startswith(FINGERPRINT_PREFIX) else fingerprint(value, key)
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, ValueError):  # too deep, or ints past 64 bits
        text = repr(value)[:4096]
    return fingerprint(text, key)


def scrub_string(text: str, key: str) -> str:
    """A string value: JSON inside it is walked like a record, anything else scanned as text."""
    if quiet(text):
        return text
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
        try:
            inner = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            inner = None
        if isinstance(inner, dict | list):
            clean = _scrub(inner, key, 1)
            return text if clean is inner else orjson.dumps(clean).decode()
    return scrub_text(text, key)


def scrub(obj: Any, key: str) -> Any:
    """A copy of a decoded JSON value with secret values fingerprinted.

    Containers are only copied when something inside changes, so clean records cost one walk.
    """
    return _scrub(obj, key, 0)


def _scrub(obj: Any, key: str, depth: int) -> Any:
    if isinstance(obj, str):
        return scrub_string(obj, key)
    if not isinstance(obj, dict | list):
        return obj
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(obj, list):
        items: list[Any] | None = None
        for i, v in enumerate(obj):
            if v is None or isinstance(v, int | float):
                continue
            item = _scrub(v, key, depth + 1)
            if item is not v:
                if items is None:
                    items = list(obj)
                items[i] = item
        return obj if items is None else items
    out: dict[str, Any] | None = None
    k8s_secret = obj.get("kind") == "Secret"
    verdicts = _KEY_VERDICTS
    for k, v in obj.items():
        secret = verdicts.get(k)  # the cached verdict first: is_secret_key is a call per key
        if secret is None:
            secret = isinstance(k, str) and is_secret_key(k)
        if (secret or (k8s_secret and k in _K8S_SECRET_FIELDS)) and v not in EMPTY_VALUES:
            new: Any = _hide(v, key)
        elif isinstance(v, str):
            new = scrub_string(v, key)
        elif isinstance(v, dict | list):
            new = _scrub(v, key, depth + 1)
        else:
            continue
        if new is not v:
            if out is None:
                out = dict(obj)
            out[k] = new
    return obj if out is None else out


def scrub_free(text: str, key: str) -> str:
    """A vendor text field (display name, user agent, error string): scanned as text."""
    return scrub_string(text, key)


def scrub_all(value: Any, key: str) -> Any:
    """Attributes of an event: the same walk as :func:`scrub`."""
    return _scrub(value, key, 0)
