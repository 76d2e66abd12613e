"""Secret hygiene: values that look like secrets are fingerprinted wherever they appear."""

from __future__ import annotations

import pytest

from ingest.secrets import fingerprint, scrub, scrub_text

KEY = "test-key"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /cb?client_secret=abc123def&x=1", "abc123def"),
        ("password=hunter22 user=bob", "hunter22"),
        ('{"token": "eyJhbGciOi.eyJzdWIiOiJ4.c2lnbmF0dXJl"}', "eyJhbGciOi.eyJzdWIiOiJ4.c2lnbmF0dXJl"),
        ("Authorization: SSWS 00abcdefghijklmnopq", "00abcdefghijklmnopq"),
        ("Authorization: Bearer abcdefghijklmn", "abcdefghijklmn"),
        ('"secretAccessKey":"wJalrXUtnFEMI/K7MDENG"', "wJalrXUtnFEMI/K7MDENG"),
    ],
)
def test_free_text_secrets_are_fingerprinted(text: str, secret: str) -> None:
    out = scrub_text(text, KEY)
    assert secret not in out
    assert "fp:" in out


def test_plain_text_is_left_alone() -> None:
    text = "tokens are issued per pod; see the secret store docs"
    assert scrub_text(text, KEY) == text


def test_structured_values_under_secret_keys() -> None:
    rec = {"a": {"client_token": "hvs.123", "list": [{"Authorization": "Basic dXNlcjpwYXNz"}]}, "keep": "x"}
    out = scrub(rec, KEY)
    assert out["a"]["client_token"] == fingerprint("hvs.123", KEY)
    assert out["a"]["list"][0]["Authorization"].startswith("fp:")
    assert out["keep"] == "x"
    assert rec["a"]["client_token"] == "hvs.123"  # the input is not mutated


def test_fingerprint_is_keyed_and_stable() -> None:
    assert fingerprint("v", "k1") == fingerprint("v", "k1") != fingerprint("v", "k2")
