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


def fingerprint(value: str, key: str) -> str:
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key.encode()[:64], digest_size=16)
    return FINGERPRINT_PREFIX + digest.hexdigest()


def is_secret_key(name: str) -> bool:
    return name.lower().replace("_", "").replace("-", "") in _SECRET_KEYS


def scrub(obj: Any, key: str) -> Any:
    """A copy of a decoded JSON value with secret-looking values fingerprinted.

    Containers are only copied when something inside changes, so clean records cost one walk.
    """
    if isinstance(obj, dict):
        out: dict[str, Any] | None = None
        for k, v in obj.items():
            if isinstance(k, str) and is_secret_key(k) and v not in (None, "", [], {}):
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
        items = [scrub(v, key) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
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
    if "ssws" in lowered:
        text = _SSWS.sub(lambda m: f"SSWS {fingerprint(m.group(1), key)}", text)
    if any(w in lowered for w in ("token", "secret", "passw", "authorization", "api_key", "apikey")):
        text = _KV.sub(lambda m: f'{m.group(1)}"{_fp_unless_done(m.group(2), key)}"', text)
        text = _KV_BARE.sub(lambda m: f"{m.group(1)}{_fp_unless_done(m.group(2), key)}", text)
    return text


def _fp_unless_done(value: str, key: str) -> str:
    if value.startswith(FINGERPRINT_PREFIX) or not value:
        return value
    return fingerprint(value, key)
