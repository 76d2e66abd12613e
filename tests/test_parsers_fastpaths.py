"""The collectors' shortcuts give what the general code gives: secret scrubbing that skips text
with no trigger word, case-insensitive lookups through a per-key-set cache, and RFC 3339 times
read by datetime.fromisoformat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import timeparse, vendorkit
from ingest.secrets import _scrub_all, quiet, scrub_all, scrub_free, scrub_text

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
def test_scrub_all_equals_its_definition(value: object) -> None:
    assert scrub_all(value, KEY) == _scrub_all(value, KEY)


def test_scrub_all_copies_containers() -> None:
    attrs = {"a": "x", "nested": {"b": ["y"]}}
    out = scrub_all(attrs, KEY)
    assert out == attrs
    assert out is not attrs and out["nested"] is not attrs["nested"]


def test_case_insensitive_lookup_reads_the_record_at_hand() -> None:
    # Two records with one key set share the cached lower-cased map; each answers with its own value.
    first = {"EventName": "A", "eventTime": "t1"}
    second = {"EventName": "B", "eventTime": "t2"}
    assert vendorkit.ci(first, "eventName") == "A"
    assert vendorkit.ci(second, "eventName") == "B"
    assert vendorkit.ci({"eventname": "C"}, "eventName") == "C"
    assert vendorkit.ci(second, "missing") is None
    assert vendorkit.ci({}, "eventName") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.1234567Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01 10:00:00.38", datetime(2024, 5, 1, 10, 0, 0, 380000, tzinfo=UTC)),
        ("2024-05-01T15:30:00+05:30", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T24:00:00Z", None),
        ("2024-02-30T00:00:00Z", None),
    ],
)
def test_vendor_times_are_utc(text: str, expected: datetime | None) -> None:
    parsed = vendorkit.parse_time(text)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00.279921000", datetime(2024, 5, 1, 10, 0, 0, 279921, tzinfo=UTC)),
        ("2024-05-01T12:00:00+0200", datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))),
        ("2024-05-01 10:00:00 UTC", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T25:00:00Z", None),
    ],
)
def test_timeparse_fast_and_general_paths(text: str, expected: datetime | None) -> None:
    parsed = timeparse.parse_time(text)
    assert parsed == expected
    if parsed is not None and expected is not None:
        assert parsed.utcoffset() == expected.utcoffset()
