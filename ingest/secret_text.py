"""Secrets in text, found by their shape or by the key written in front of them.

Shapes follow the public gitleaks rule set (config/gitleaks.toml) where it has a rule: ``jwt``,
``private-key``, ``github-pat`` / ``github-oauth`` / ``github-app-token`` / ``github-refresh-token`` /
``github-fine-grained-pat``, ``slack-bot-token`` / ``slack-user-token`` / ``slack-app-token`` /
``slack-config-access-token``, ``vault-service-token`` / ``vault-batch-token``, ``gitlab-pat`` and
``gcp-api-key``. The lengths are looser than gitleaks' (a token cut short is still a secret, and
an evidence store would rather fingerprint one value too many). gitleaks has no rule for a bare
AWS secret access key or session token; those are matched by their known form (40 characters of
base64 with high entropy; the ``IQoJb3JpZ2luX2Vj`` / ``FwoGZXIvYXdz`` prefixes of STS tokens).
Okta's ``SSWS <token>``, ``Bearer`` / ``Basic`` credentials and cookies are matched by the word
before them, and ``key=value`` / ``"key": "value"`` pairs by the key (ingest.secret_names).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable

from ingest.secret_names import names_a_secret, normal_key

FINGERPRINT_PREFIX = "fp:"


def fingerprint(value: str, key: str) -> str:
    """Keyed BLAKE2b: the same secret always maps to the same value, which can't be reversed."""
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key.encode()[:64], digest_size=16)
    return FINGERPRINT_PREFIX + digest.hexdigest()


# --- shapes: the whole match is the secret -------------------------------------------------------

_PEM = (
    r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[^\"]*)"  # or cut short
)
_SHAPES = re.compile(
    "|".join(
        (
            _PEM,
            r"\beyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*){0,2}",  # a JWT, or the start of one
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bxox[abeoprs]-[A-Za-z0-9-]{8,}",
            r"\bxoxe\.xox[bp]-[A-Za-z0-9-]{8,}",
            r"\bxapp-\d-[A-Za-z0-9-]{8,}",
            r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}",
            r"\bglpat-[A-Za-z0-9_-]{20,}",
            r"\bAIza[0-9A-Za-z_-]{35}",
            r"\b(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{16,}",
        )
    )
)
# Substrings every shape above needs: text without any of them skips the regex.
_SHAPE_MARKS = (
    "PRIVATE KEY", "eyJ", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "xapp-",
    "hvs.", "hvb.", "hvr.", "glpat-", "AIza", "IQoJ", "FwoG", "FQoG",
)  # fmt: skip

# A 40-character run of base64 (an AWS secret access key), kept only if it looks random.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# Base64 of a JSON object (it starts with '{' -> "ew"): a GCP service account key (privateKeyData).
_B64_JSON = re.compile(r"(?<![A-Za-z0-9/+=])ew[A-Za-z0-9+/]{98,}={0,2}")


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


def random_looking(run: str) -> bool:
    """Mixed case and digits, and close to the 5 bits per character of random base64 (a path
    or a word of the same length stays well under 4.3)."""
    return (
        any(c.isupper() for c in run)
        and any(c.islower() for c in run)
        and any(c.isdigit() for c in run)
        and entropy(run) >= 4.3
    )


def _gcp_key(run: str) -> bool:
    try:
        decoded = base64.b64decode(run + "=" * (-len(run) % 4))
    except (binascii.Error, ValueError):
        return False
    return b"private_key" in decoded


# --- words and keys: what follows them is the secret ---------------------------------------------

_SCHEME = re.compile(r"(?i)\b(bearer|basic|ssws)(\s+)(?!fp:)([A-Za-z0-9._~+/=-]{8,})")
_COOKIE = re.compile(r"(?i)\b((?:set-)?cookie(?:\\*\")?\s*[:=]\s*(?:\\*\")?)(?!fp:)([^\r\n\"\\]+)")
# key=value, key: value, "key": "value", and \"key\": \"value\" (JSON inside a JSON string, as deep
# as it is escaped). A
# value is a quoted string (possibly cut short at the end of the text) or a bare word.
_PAIR = re.compile(
    r"(?<![\w.:/-])((?:\\)*[\"']?)([A-Za-z][\w-]{0,63})\1(\s*[:=]\s*)"
    r"(?:\\+\"(.*?)(?:\\+\"|$)|\"((?:[^\"\\]|\\.)*)(?:\"|$)|'([^']*)(?:'|$)|([^\s\"',&;{}\[\]]+))"
)
_PAIR_WORDS = ("token", "secret", "pass", "pwd", "key", "auth", "assertion", "saml", "jwt", "bearer")
_HEADER_SCHEMES = frozenset({"bearer", "basic", "ssws", "token", "negotiate", "digest"})


def _sub_pairs(text: str, hide: Callable[[str], str]) -> str:
    """``_PAIR.sub`` that, after a pair whose key is not a secret, goes on scanning right after the
    separator: that pair's value may hold the next pair (``https://h/x?token=...``)."""
    out: list[str] = []
    pos = 0
    search = _PAIR.search
    while (m := search(text, pos)) is not None:
        replaced = _pair(m, hide)
        if replaced is None:
            out.append(text[pos : m.end(3)])
            pos = m.end(3)
        else:
            out.append(text[pos : m.start()])
            out.append(replaced)
            pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _pair(m: re.Match[str], hide: Callable[[str], str]) -> str | None:
    """The pair with its value fingerprinted; None when its key is not a secret."""
    name = m.group(2)
    # "<anything>_token=value" in a query string or logfmt is a token written out ("hashed_token" as
    # a record key, or an id like "k8s-pod-token:<uid>", is not).
    if not (names_a_secret(name) or ("=" in m.group(3) and normal_key(name).endswith("token"))):
        return None
    for index in (4, 5, 6, 7):
        value = m.group(index)
        if value is None:
            continue
        if not value or value.startswith("fp:") or value.lower() in _HEADER_SCHEMES:
            return m.group(0)  # nothing to hide, done already, or "Authorization: Bearer <the secret>"
        s, e = m.start(index) - m.start(0), m.end(index) - m.start(0)
        whole = m.group(0)
        return whole[:s] + hide(value) + whole[e:]
    return m.group(0)  # pragma: no cover - one value alternative always matches


def _scheme(hide: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        credential = m.group(3)
        if m.group(1).lower() == "basic" and credential.isalpha() and credential.islower():
            return m.group(0)  # prose ("basic information"); base64 of user:password is mixed
        return m.group(1) + m.group(2) + hide(credential)

    return replace


def quiet(text: str) -> bool:
    """True when :func:`scrub_text` would leave ``text`` as it is, judged cheaply: it has none of
    the marks a shape needs, no scheme word, no cookie, and no secret word with ':' or '=' after
    it. A False only means the full scan runs."""
    if len(text) >= 40:
        return False  # long enough to be a bare AWS secret key: only the scan can tell
    if any(mark in text for mark in _SHAPE_MARKS):
        return False
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered or "ssws" in lowered or "cookie" in lowered:
        return False
    if ":" not in text and "=" not in text:
        return True
    return not any(word in lowered for word in _PAIR_WORDS)


def scrub_text(text: str, key: str) -> str:
    """``text`` with every secret found by shape, scheme word, cookie or key name fingerprinted."""
    if quiet(text):
        return text

    def hide(value: str) -> str:
        return value if value.startswith(FINGERPRINT_PREFIX) else fingerprint(value, key)

    if any(mark in text for mark in _SHAPE_MARKS):
        text = _SHAPES.sub(lambda m: hide(m.group(0)), text)
    if len(text) >= 40:
        text = _AWS_SECRET.sub(lambda m: hide(m.group(0)) if random_looking(m.group(0)) else m.group(0), text)
    if len(text) >= 100 and "ew" in text:
        text = _B64_JSON.sub(lambda m: hide(m.group(0)) if _gcp_key(m.group(0)) else m.group(0), text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered or "ssws" in lowered:
        text = _SCHEME.sub(_scheme(hide), text)
    if "cookie" in lowered:
        text = _COOKIE.sub(lambda m: m.group(1) + hide(m.group(2)), text)
    if ("=" in text or ":" in text) and any(word in lowered for word in _PAIR_WORDS):
        text = _sub_pairs(text, hide)
    return text
