"""Shared pytest configuration. Kafka fixtures live in tests/kafka_fixtures.py."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.kafka_fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Any test that (even transitively) needs the broker carries the `kafka` marker declared in
    # pyproject.toml, so `-m "not kafka"` reliably selects the broker-free subset.
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)
