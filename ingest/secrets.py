"""Never store a secret: token values found in records are replaced by a keyed fingerprint.

The fingerprint is a keyed BLAKE2b, so the same token always maps to the same value (it can
still be correlated) but can't be recovered or brute-forced without the key.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

FINGERPRINT_PREFIX = "fp:"

# Keys whose values are secrets wherever they appear (compared lower-cased, '-' and '_' ignored).
_SECRET_KEYS = frozenset(
    k.replace("_", "").replace("-", "")
    for k in (
        "token",
        "access_token",
        "client_token",
        "x-api-key",
        "refresh_token",
        "id_token",
        "client_secret",
        "secret",
        "secret_key",
        "secretAccessKey",
        "sessionToken",
        "password",
        "passwd",
        "authorization",
        "private_key",
        "privateKeyData",
        "api_key",
        "apikey",
        "bearer",
        "cookie",
        "x-vault-token",
        "secret_id",
        "jwt",
        "assertion",
        "client_assertion",
        "samlResponse",
        "samlAssertion",
    )
)

# Free text: bearer headers, JWTs, and 'key: value' pairs naming a secret key.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_SECRET_WORDS = (
    r"token|access_token|refresh_token|id_token|client_secret|secret|password|passwd|authorization|"
    r"api_key|apikey|secret_id|sessionToken|secretAccessKey"
)
# key="quoted value" (JSON-ish) or key=bare_value (query strings, logfmt)
_KV = re.compile(rf'(?i)("?\b(?:{_SECRET_WORDS})"?\s*[:=]\s*)"((?:[^"\\]|\\.)*)"')
_KV_BARE = re.compile(rf"(?i)(\b(?:{_SECRET_WORDS})\s*=\s*)([^\s\"',&;]+)")
_SSWS = re.compile(r"\bSSWS\s+([A-Za-z0-9._~+/=-]{8,})")


# Values under a secret key that are left as they are: nothing to hide.
EMPTY_VALUES: tuple[Any, ...] = (None, "", [], {})


def fingerprint(value: str, key: str) -> str:
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key.encode()[:64], digest_size=16)
    return FINGERPRINT_PREFIX + digest.hexdigest()


def is_secret_key(name: str) -> bool:
    verdict = _KEY_VERDICTS.get(name)
    if verdict is None:
        verdict = name.lower().replace("_", "").replace("-", "") in _SECRET_KEYS
        # Record keys come from a small vocabulary, so remembering verdicts saves the string work
        # on every key of every record; the bounds keep hostile input from growing it without end.
        if len(name) <= 64:
            if len(_KEY_VERDICTS) >= _KEY_VERDICTS_MAX:
                _KEY_VERDICTS.clear()
            _KEY_VERDICTS[name] = verdict
    return verdict


_KEY_VERDICTS: dict[str, bool] = {}
_KEY_VERDICTS_MAX = 8192


def scrub(obj: Any, key: str) -> Any:
    """A copy of a decoded JSON value with secret-looking values fingerprinted.

    Containers are only copied when something inside changes, so clean records cost one walk.
    """
    if isinstance(obj, dict):
        out: dict[str, Any] | None = None
        verdicts = _KEY_VERDICTS
        for k, v in obj.items():
            secret = verdicts.get(k)  # the cached verdict first: is_secret_key is a call per key
            if secret is None:
                secret = isinstance(k, str) and is_secret_key(k)
            if secret and v not in EMPTY_VALUES:
                new: Any = fingerprint(v if isinstance(v, str) else repr(v), key)
            elif isinstance(v, (dict, list)):
                new = scrub(v, key)
            elif isinstance(v, str) and len(v) > 20 and (v.startswith("eyJ") or " " in v):
                new = scrub_text(v, key)
            else:
                continue
            if new is not v:
                if out is None:
                    out = dict(obj)
                out[k] = new
        return obj if out is None else out
    if isinstance(obj, list):
        items: list[Any] | None = None
        for i, v in enumerate(obj):
            # Short strings and numbers can't change: skip the call for them.
            if (isinstance(v, str) and len(v) <= 20) or isinstance(v, (int, float)) or v is None:
                continue
            new = scrub(v, key)
            if new is not v:
                if items is None:
                    items = list(obj)
                items[i] = new
        return obj if items is None else items
    if isinstance(obj, str) and len(obj) > 20:
        return scrub_text(obj, key)
    return obj


def scrub_text(text: str, key: str) -> str:
    """Fingerprint secrets in free text (raw lines that are not valid JSON, log messages)."""
    if "eyJ" in text:
        text = _JWT.sub(lambda m: fingerprint(m.group(0), key), text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {fingerprint(m.group(2), key)}", text)
    # Each pattern also needs characters the word tests don't look for (_SSWS is case-sensitive,
    # pairs need ':' or '='): checking those first spares the regex scan of a path like
    # auth/token/create, which names a secret word but holds no secret.
    if "ssws" in lowered and "SSWS" in text:
        text = _SSWS.sub(lambda m: f"SSWS {fingerprint(m.group(1), key)}", text)
    # Chained tests rather than any(generator): this runs on every long string of every record.
    if (
        "token" in lowered
        or "secret" in lowered
        or "passw" in lowered
        or "authorization" in lowered
        or "api_key" in lowered
        or "apikey" in lowered
    ):
        if '"' in text and (":" in text or "=" in text):
            text = _KV.sub(lambda m: f'{m.group(1)}"{_fp_unless_done(m.group(2), key)}"', text)
        if "=" in text:
            text = _KV_BARE.sub(lambda m: f"{m.group(1)}{_fp_unless_done(m.group(2), key)}", text)
    return text


def _fp_unless_done(value: str, key: str) -> str:
    if value.startswith(FINGERPRINT_PREFIX) or not value:
        return value
    return fingerprint(value, key)


# --- vendor free text -------------------------------------------------------------------------------

# scrub_text catches bearer/JWT values and quoted ``key: "value"`` pairs; vendor text
# fields (display names, user agents, error strings) also carry unquoted ``client_secret=...`` and
# Okta's ``SSWS <token>`` header. Those are fingerprinted here as well, before anything is copied.
# A key preceded by ':' or '/' is part of an ARN or path (``...:secret:prod/db``), not a pair.
_UNQUOTED = re.compile(
    r"(?i)(?<![:/.])\b([\w-]*(?:secret|passwd|password|token|api[_-]?key|secret[_-]?key))"
    r"(\s*[:=]\s*)(?!fp:)([^\s,;&\"'\])}]{4,})"
)
_SSWS_FREE = re.compile(r"\b(SSWS)\s+(?!fp:)([A-Za-z0-9._~+/=-]{8,})")
_MISSING: Any = object()  # sentinel: a value that can't be copied unscrubbed


def quiet(text: str) -> bool:
    """True when no scrubber in this module could change ``text``: it lacks what every pattern
    needs (a JWT's eyJ, SSWS, bearer/basic, or a secret word with a ':' or '=' after it). Built
    from the scrubbers' own guards, so a False only means the full scrub runs."""
    if "eyJ" in text or "SSWS" in text:  # both SSWS patterns are case-sensitive
        return False
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        return False
    if ":" not in text and "=" not in text:
        return True  # every key/value pattern needs one: auth/token/create holds no secret
    # "pass" covers "passw", "key" covers "api_key" and "apikey".
    return not (
        "token" in lowered
        or "secret" in lowered
        or "pass" in lowered
        or "key" in lowered
        or "authorization" in lowered
    )


def scrub_free(text: str, key: str) -> str:
    if quiet(text):
        return text
    text = scrub_text(text, key)
    lowered = text.lower()
    if ("secret" in lowered or "pass" in lowered or "key" in lowered or "token" in lowered) and (
        ":" in text or "=" in text  # the pattern needs a separator: skip the scan without one
    ):
        text = _UNQUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{fingerprint(m.group(3), key)}", text)
    if "SSWS" in text:
        text = _SSWS_FREE.sub(lambda m: f"{m.group(1)} {fingerprint(m.group(2), key)}", text)
    return text


def _scrub_all(value: Any, key: str) -> Any:
    """The definition of :func:`scrub_all`: scrub, then scrub_free on every string."""
    value = scrub(value, key)
    if isinstance(value, str):
        return scrub_free(value, key)
    if isinstance(value, dict):
        return {k: _scrub_all(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_all(v, key) for v in value]
    return value


def _quiet_copy(value: Any) -> Any:
    """A copy of ``value`` (new containers, as _scrub_all makes) when nothing in it could be
    scrubbed, else _MISSING. Secret-named keys only count when their value would be fingerprinted."""
    if isinstance(value, str):
        return value if quiet(value) else _MISSING
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        verdicts = _KEY_VERDICTS
        for k, v in value.items():
            secret = verdicts.get(k)  # as in scrub: the cached verdict without a call
            if secret is None:
                secret = isinstance(k, str) and is_secret_key(k)
            if secret and v not in EMPTY_VALUES:
                return _MISSING
            if isinstance(v, str):  # most values: checked here rather than in a call
                if not quiet(v):
                    return _MISSING
            elif isinstance(v, (dict, list)):
                v = _quiet_copy(v)
                if v is _MISSING:
                    return _MISSING
            out[k] = v
        return out
    if isinstance(value, list):
        items = []
        for v in value:
            v = _quiet_copy(v)
            if v is _MISSING:
                return _MISSING
            items.append(v)
        return items
    return value


def scrub_all(value: Any, key: str) -> Any:
    """scrub, then :func:`scrub_free` on every string left.

    Attributes are mostly short identifiers with nothing to scrub; those are copied as they are,
    and anything that might hold a secret goes through the full definition (_scrub_all), so the
    result is the same either way.
    """
    copied = _quiet_copy(value)
    return _scrub_all(value, key) if copied is _MISSING else copied
