"""Collectors build events without re-running pydantic (ingest.events.trusted_event): the result
must be the event full validation gives, and anything not plainly valid must fail as validation
fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bench.ingest_bench import OCSF_RECORDS, SPIRE_LINES
from ingest import events as events_module
from ingest.collect import Collector
from ingest.events import Context, Event, EventType, trusted_context, trusted_event
from ingest.sources import read_lines, read_path
from streams.settings import Settings
from tests.real_datasets import datasets_dir

ROOT = Path(__file__).resolve().parents[1]

_WHEN = datetime(2025, 5, 4, 12, 0, tzinfo=UTC)
_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "success", "failure", "credential.used", "2025-05-04T12:00:00Z"]),
    st.sampled_from(list(EventType)),
    st.sampled_from([_WHEN, _WHEN.replace(tzinfo=None), _WHEN.astimezone(timezone(timedelta(hours=2)))]),
    st.booleans(),
    st.integers(min_value=-2, max_value=2),
    st.just(Context(region="eu-west-1")),
    st.just({"k": "v"}),
    st.just({1: "v"}),
    st.just(["list"]),
)
_FIELDS = st.dictionaries(st.sampled_from([*Event.model_fields, "extra"]), _VALUES, max_size=8)
_TIMES = st.sampled_from(
    [_WHEN, _WHEN.replace(tzinfo=None), _WHEN.astimezone(timezone(timedelta(hours=2))), "2025-05-04"]
)
_TYPED = st.tuples(st.sampled_from(list(EventType)), _TIMES, _FIELDS).map(
    lambda parts: {**parts[2], "type": parts[0], "time": parts[1]}
)


def _outcome(build: Any, fields: dict[str, Any]) -> tuple[str, Any]:
    try:
        made = build(fields)
    except ValidationError as exc:
        return "invalid", exc.errors(include_url=False, include_context=False)
    # repr and JSON bytes, not ==: 1 == True, and the stored JSON must be the same byte for byte.
    return "valid", (repr(made.__dict__), made.model_fields_set, orjson.dumps(made.to_json_dict()))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_FIELDS, _TYPED))
def test_trusted_event_is_what_validation_gives(fields: dict[str, Any]) -> None:
    assert _outcome(trusted_event, fields) == _outcome(Event.model_validate, fields)


_ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "success",
    "failure",
    "credential.used",
    "2025-05-04T12:00:00Z",
    EventType.TASK_ENDED,
    _WHEN,
    _WHEN.replace(tzinfo=None),
    _WHEN.astimezone(timezone(timedelta(hours=2))),
    True,
    0,
    1,
    1.5,
    Context(region="eu-west-1"),
    {"region": "eu-west-1"},
    {"k": "v"},
    {1: "v"},
    ["list"],
]


@pytest.mark.parametrize("kind", [EventType.CREDENTIAL_USED, EventType.TASK_ENDED, EventType.OWNER_DEPARTED])
@pytest.mark.parametrize("name", [*Event.model_fields, "extra"])
def test_each_single_wrong_field_fails_as_validation_fails(kind: EventType, name: str) -> None:
    # An event as a parser builds it, with one field set to each odd value in turn.
    base: dict[str, Any] = {
        "type": kind,
        "time": _WHEN,
        "id": "i",
        "nhi": "n",
        "task": "t",
        "owner": "o",
        "credential": "c",
        "outcome": "success",
        "expires_at": _WHEN,
        "context": Context(),
        "attrs": {"k": "v"},
    }
    for value in _ODD_VALUES:
        fields = {**base, name: value}
        assert _outcome(trusted_event, fields) == _outcome(Event.model_validate, fields), (name, value)


def test_trusted_event_keeps_its_own_attrs() -> None:
    attrs = {"a": 1}
    event = trusted_event({"type": EventType.CREDENTIAL_USED, "time": _WHEN, "nhi": "n", "attrs": attrs})
    attrs["a"] = 2
    assert event.attrs == {"a": 1}
    assert event == Event.model_validate(
        {"type": EventType.CREDENTIAL_USED, "time": _WHEN, "nhi": "n", "attrs": {"a": 1}}
    )


def test_trusted_event_refuses_what_the_contract_refuses() -> None:
    with pytest.raises(ValidationError, match="'nhi' is required"):
        trusted_event({"type": EventType.CREDENTIAL_USED, "time": _WHEN})
    with pytest.raises(ValidationError, match="timezone"):
        trusted_event({"type": EventType.TASK_ENDED, "time": _WHEN.replace(tzinfo=None), "task": "t"})


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cluster", "region", "ip", "node", "bogus"]),
        st.one_of(st.none(), st.sampled_from(["", "eu", "10.0.0.1"]), st.integers(0, 3)),
        max_size=4,
    )
)
def test_trusted_context_is_what_validation_gives(fields: dict[str, Any]) -> None:
    def outcome(build: Any) -> tuple[str, Any]:
        try:
            made = build(**fields)
        except ValidationError as exc:
            return "invalid", exc.errors(include_url=False, include_context=False)
        return "valid", (made.__dict__, made.model_fields_set, hash(made))

    assert outcome(trusted_context) == outcome(Context)


def _collect_everything() -> list[Any]:
    files = sorted(p for p in datasets_dir().rglob("*") if p.is_file())
    files += sorted((ROOT / "tests" / "data").rglob("*.jsonl"))
    out: list[Any] = []
    for path in files:
        collector = Collector("auto", Settings())
        for item in collector.run(read_path(path)):
            if isinstance(item, Event):
                out.append((item.model_dump(), item.model_fields_set, item.to_json_dict()))
            else:
                out.append(("reject", item.reason))
    # SPIRE and OCSF have no public samples here: the benchmark's records stand in.
    for fmt, lines in (
        ("spire", [line.encode() for line in SPIRE_LINES]),
        ("ocsf", [orjson.dumps(r) for r in OCSF_RECORDS]),
    ):
        for item in Collector(fmt, Settings()).run(read_lines(lines, fmt)):
            assert isinstance(item, Event), item
            out.append((item.model_dump(), item.model_fields_set, item.to_json_dict()))
    return out


def test_every_parser_gives_the_events_full_validation_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _collect_everything()
    assert sum(row[0] != "reject" for row in fast) > 500  # the samples do produce events

    def validated(fields: dict[str, Any]) -> Event:
        return Event.model_validate(fields)

    def validated_context(**fields: Any) -> Context:
        return Context(**fields)

    monkeypatch.setattr(events_module, "trusted_event", validated)
    monkeypatch.setattr(events_module, "trusted_context", validated_context)
    # The parsers bound the names at import: patch them where they are used.
    import ingest.fieldutil
    import ingest.gcp_audit
    import ingest.k8s_audit
    import ingest.k8s_objects
    import ingest.ocsf
    import ingest.spire
    import ingest.vendorkit

    monkeypatch.setattr(ingest.fieldutil, "trusted_event", validated)
    for module in (
        ingest.gcp_audit,
        ingest.k8s_audit,
        ingest.k8s_objects,
        ingest.ocsf,
        ingest.spire,
        ingest.vendorkit,
    ):
        monkeypatch.setattr(module, "trusted_context", validated_context)
    # Contexts are cached per caller; clear the cache so the slow run builds its own.
    ingest.vendorkit._cached_context.cache_clear()
    slow = _collect_everything()
    assert fast == slow
