"""The native contract v1: what is accepted, what is kept, what becomes a reject and why."""

from __future__ import annotations

import io
import json

import pytest

from contract.events import Event, EventType, event_from_record, json_schema
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.sources import read_lines, read_path


def parse(*lines: str) -> list[Event | Reject]:
    return list(Collector("native", Settings()).run(read_lines(io.BytesIO("\n".join(lines).encode()), "t")))


def test_minimal_record_gets_defaults_and_a_stable_id() -> None:
    line = '{"type":"credential.used","time":"2026-05-04T08:00:00Z","nhi":"k8s:prod/a/b","credential":"c1"}'
    (a,), (b,) = parse(line), parse(line)
    assert isinstance(a, Event) and isinstance(b, Event)
    assert a.id == b.id and len(a.id) == 32
    assert a.source == "native" and a.type is EventType.CREDENTIAL_USED


def test_explicit_id_is_kept() -> None:
    (e,) = parse('{"type":"task.ended","time":"2026-05-04T08:00:00+02:00","task":"pod:x","id":"evt-1"}')
    assert isinstance(e, Event) and e.id == "evt-1" and e.time.utcoffset() is not None


def test_unknown_fields_are_kept_in_attrs() -> None:
    (e,) = parse(
        '{"type":"credential.used","time":"2026-05-04T08:00:00Z","nhi":"n","ticket":"SEC-1",'
        '"context":{"namespace":"a","zone":"z1"},"attrs":{"k":1}}'
    )
    assert isinstance(e, Event)
    assert e.attrs == {"k": 1, "ticket": "SEC-1", "context": {"zone": "z1"}}
    assert e.context.namespace == "a"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"type":"credential.used","time":"2026-05-04T08:00:00Z"}', "'nhi' is required on credential.used"),
        ('{"type":"credential.burned","time":"2026-05-04T08:00:00Z","nhi":"n"}', "type: Input should be"),
        ('{"type":"task.ended","time":"yesterday","task":"t"}', "time: Input should be a valid datetime"),
        (
            '{"type":"task.ended","time":"2026-05-04T08:00:00","task":"t"}',
            "time: Input should have timezone info",
        ),
        ('{"type":"task.ended","time":"2026-05-04T08:00:00Z"}', "task.ended needs 'task'"),
        (
            '{"type":"credential.revoked","time":"2026-05-04T08:00:00Z"}',
            "credential.revoked needs 'credential'",
        ),
        ('{"type":"owner.departed","time":"2026-05-04T08:00:00Z"}', "owner.departed needs 'owner'"),
        ('{"time":"2026-05-04T08:00:00Z","nhi":"n"}', "type: Field required"),
        (
            '{"type":"credential.used","time":"2026-05-04T08:00:00Z","nhi":"n","outcome":"maybe"}',
            "outcome: Input should be 'success' or 'failure'",
        ),
        (
            '{"type":"credential.issued","time":"2026-05-04T08:00:00Z","nhi":"n","attested":"very"}',
            "attested",
        ),
        ('{"type": ', "not valid JSON"),
    ],
)
def test_contract_violations_are_rejects_with_a_precise_reason(line: str, reason: str) -> None:
    (r,) = parse(line)
    assert isinstance(r, Reject), r
    assert reason in r.reason
    assert r.location == "t:1" and r.source == "native"


def test_a_one_line_array_is_one_record_per_item() -> None:
    ok = '{"type":"credential.used","time":"2026-05-04T08:00:00Z","nhi":"k8s:prod/a/b","credential":"c1"}'
    out = parse(f"[{ok}, 2]")
    assert isinstance(out[0], Event) and isinstance(out[1], Reject)
    assert "expected a JSON object" in out[1].reason and out[1].location == "t:1#1"


def test_a_bad_line_does_not_stop_the_rest() -> None:
    good = '{"type":"task.ended","time":"2026-05-04T08:00:00Z","task":"t"}'
    out = parse(good, "garbage", good.replace("08:00", "09:00"))
    assert [type(x).__name__ for x in out] == ["Event", "Reject", "Event"]
    assert isinstance(out[1], Reject) and out[1].location == "t:2"


def test_secrets_in_attrs_never_survive(tmp_path: object) -> None:
    (e,) = parse(
        '{"type":"credential.issued","time":"2026-05-04T08:00:00Z","nhi":"n","credential":"c",'
        '"attrs":{"request":{"headers":{"Authorization":"Bearer abcdefghijklmnop"}},"token":"s3cr3t-value"}}'
    )
    assert isinstance(e, Event)
    dumped = e.model_dump_json()
    assert "s3cr3t-value" not in dumped and "abcdefghijklmnop" not in dumped
    assert e.attrs["token"].startswith("fp:")


def test_whole_json_documents_and_records_envelopes(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "doc.json"
    recs = [{"type": "task.ended", "time": f"2026-05-04T08:0{i}:00Z", "task": f"t{i}"} for i in range(3)]
    path.write_text(json.dumps({"Records": recs}, indent=2))
    values = [r.value for r in read_path(path)]
    assert values == recs


def test_schema_describes_every_event_type() -> None:
    schema = json_schema()
    assert set(schema["$defs"]["EventType"]["enum"]) == {t.value for t in EventType}
    assert set(schema["required"]) == {"type", "time"}


def test_event_from_record_round_trip() -> None:
    e = event_from_record(
        {"type": "identity.registered", "time": "2026-05-04T08:00:00Z", "nhi": "n", "owner": "o"}
    )
    assert event_from_record(e.to_json_dict()) == e
