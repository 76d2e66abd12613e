"""The collectors' shortcuts give what the general code gives: secret scrubbing that skips text
with no trigger word, and case-insensitive lookups through a per-key-set cache (times: tests/test_times.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.secrets import quiet, scrub, scrub_all, scrub_free, scrub_text
from ingest.toolkit.fields import ci

KEY = "test-key"

# Pieces that make the scrub patterns fire, or nearly fire, in any order.
_PIECES = st.sampled_from(
    [
        "token",
        "Token",
        "client_secret",
        "password",
        "api_key",
        "Authorization",
        "Bearer",
        "basic",
        "SSWS",
        "ssws",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl",
        "abcdefghijkl",
        "=",
        ":",
        " ",
        '"',
        "/",
        "fp:",
        "key",
        "auth/token/create",
        "plain",
    ]
)
_TEXT = st.lists(_PIECES, max_size=10).map("".join)
_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["token", "name", "x-api-key", "note", "password"]), inner, max_size=3
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_quiet_text_is_left_alone_by_every_scrubber(text: str) -> None:
    if quiet(text):
        assert scrub_text(text, KEY) == text
        assert scrub_free(text, KEY) == text


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_scrub_all_is_scrub_and_keeps_clean_values_as_they_are(value: object) -> None:
    out = scrub_all(value, KEY)
    assert out == scrub(value, KEY)
    if isinstance(value, str) and quiet(value):
        assert out is value


def test_case_insensitive_lookup_reads_the_record_at_hand() -> None:
    # Two records with one key set share the cached lower-cased map; each answers with its own value.
    first = {"EventName": "A", "eventTime": "t1"}
    second = {"EventName": "B", "eventTime": "t2"}
    assert ci(first, "eventName") == "A"
    assert ci(second, "eventName") == "B"
    assert ci({"eventname": "C"}, "eventName") == "C"
    assert ci(second, "missing") is None
    assert ci({}, "eventName") is None
