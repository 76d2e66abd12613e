"""The one timestamp parser: every rule of ``ingest/toolkit/times.py``'s docstring, pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.toolkit.times import add_seconds, parse_seconds, parse_time

T = datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)  # epoch 1717000000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # 1. nothing, placeholders and non-numbers
        (None, None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
        (0, None),
        (-5, None),
        # 2. datetimes: to UTC; naive ones are UTC
        (datetime(2024, 5, 29, 18, 26, 40, tzinfo=timezone(timedelta(hours=2))), T),
        (datetime(2024, 5, 29, 16, 26, 40), T),
        # 3. epoch numbers and digit strings, the unit by magnitude
        (1717000000, T),
        (1717000000.0, T),
        (1717000000000, T),
        (1717000000000000, T),
        (1717000000000000000, T),
        ("1717000000", T),
        ("1717000000123456", T + timedelta(microseconds=123456)),
        ("12345678", None),  # too short to be an epoch, not a date either
        # 4. protobuf Timestamp
        ({"seconds": 1717000000, "nanos": 5000}, T + timedelta(microseconds=5)),
        ({"seconds": "1717000000"}, T),
        ({"nanos": 5}, None),
        # 5. ISO 8601 / RFC 3339 and its bendings
        ("2024-05-29T16:26:40Z", T),
        ("2024-05-29T16:26:40z", T),
        ("2024-05-29T16:26:40.123456789Z", T + timedelta(microseconds=123456)),
        ("2024-05-29 16:26:40.38", T + timedelta(microseconds=380000)),
        ("2024-05-29T16:26:40,5Z", T + timedelta(microseconds=500000)),
        ("2024-05-29T18:26:40+02:00", T),
        ("2024-05-29T18:26:40+0200", T),
        ("2024-05-29 16:26:40 UTC", T),
        ("2024-05-29 16:26:40000000", T),  # a fraction glued to the seconds (a real GitHub export)
        ("2024-05-29T16:26", T - timedelta(seconds=40)),
        ("2024-05-29", datetime(2024, 5, 29, tzinfo=UTC)),
        ("  2024-05-29T16:26:40Z  ", T),
        # 6. the console form
        ("May 29, 2024, 4:26:40 PM", T),
        ("May 29, 2024, 12:26:40 AM", T - timedelta(hours=16)),
        # the rest
        ("2024-05-29T24:00:00Z", None),
        ("2024-02-30T00:00:00Z", None),
        ("yesterday", None),
        ("", None),
        ("2024-05-29T16:26:40Z" + " " * 60, T),
        ("9" * 70, None),
        ([1717000000], None),
    ],
)
def test_parse_time_rules(value: Any, expected: datetime | None) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is UTC


def test_the_two_old_parsers_disagreements_are_settled() -> None:
    """Before one toolkit, each of these was read by one parser and refused by the other."""
    assert parse_time(1717000000123456) == T + timedelta(microseconds=123456)
    assert parse_time("Jun 2, 2024, 8:27:12 PM") == datetime(2024, 6, 2, 20, 27, 12, tzinfo=UTC)


@given(st.one_of(st.text(max_size=80), st.integers(), st.floats(), st.none(), st.booleans()))
def test_parse_time_never_raises(value: Any) -> None:
    parsed = parse_time(value)
    assert parsed is None or parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3600, 3600.0), ("3600s", 3600.0), ("3600", 3600.0), ({"seconds": 60}, 60.0), (-1, None), ("1h", None)],
)
def test_parse_seconds(value: Any, expected: float | None) -> None:
    assert parse_seconds(value) == expected


def test_add_seconds_bounds() -> None:
    assert add_seconds(T, 60) == T + timedelta(minutes=1)
    assert add_seconds(T, "60s") == T + timedelta(minutes=1)
    assert add_seconds(T, None) is None
    assert add_seconds(T, -1) is None
    assert add_seconds(T, True) is None
    assert add_seconds(T, 200 * 366 * 86400) is None  # a garbled lifetime, not a real one
