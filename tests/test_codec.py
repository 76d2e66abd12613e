"""What goes over Kafka comes back equal."""

from __future__ import annotations

from tests.scenario import events, play
from tests.test_engine_semantics import story
from transport.codec import (
    decode_entity,
    decode_event,
    decode_finding,
    decode_trust,
    encode_entity,
    encode_event,
    encode_finding,
    encode_trust,
    event_key,
)


def test_events_round_trip_and_keys() -> None:
    evs = events(story())
    for e in evs:
        assert decode_event(encode_event(e)) == e
    keys = {event_key(e) for e in evs}
    assert b"pod:p1" in keys and b"alice@example.com" in keys  # nhi-less events keyed by what resolves them


def test_engine_outputs_round_trip() -> None:
    out, engine = play(story())
    assert out.findings and out.trust
    for f in out.findings:
        assert decode_finding(encode_finding(f)) == f
    snaps = engine.drain_snapshots()
    ident = snaps.identities[0]
    for t in out.trust:
        assert decode_trust(encode_trust(t, ident)) == (t, ident)
        assert decode_trust(encode_trust(t)) == (t, None)
    for row in [*snaps.credentials, *snaps.tasks]:
        assert decode_entity(encode_entity(row)[1]) == row
