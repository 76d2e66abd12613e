"""Every rule of the reorder buffer (streams/reorder.py), pinned one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.events import Event, EventType
from streams.reorder import ReorderBuffer

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=10)


def ev(id: str, seconds: float, kind: EventType = EventType.CREDENTIAL_USED) -> Event:
    return Event(id=id, type=kind, time=T0 + timedelta(seconds=seconds), nhi="n", credential="c")


def ids(items: object) -> list[str]:
    return [e.id for _, e in items]  # type: ignore[attr-defined]


def test_nothing_is_ready_before_the_first_event() -> None:
    buf = ReorderBuffer(WINDOW)
    assert list(buf.ready()) == [] and len(buf) == 0 and buf.newest is None


def test_an_event_is_held_until_the_newest_time_is_a_window_past_it() -> None:
    buf = ReorderBuffer(WINDOW)
    buf.push("n", ev("a", 0))
    buf.push("n", ev("b", 9.999))
    assert list(buf.ready()) == [] and len(buf) == 2
    buf.push("n", ev("c", 10))  # exactly one window later: released (the horizon is inclusive)
    assert ids(buf.ready()) == ["a"] and len(buf) == 2
    buf.push("n", ev("d", 19.999))
    assert ids(buf.ready()) == ["b"]


def test_release_order_is_time_then_type_order_then_id_whatever_the_arrival() -> None:
    buf = ReorderBuffer(WINDOW)
    buf.push("n", ev("z", 5, EventType.TASK_ENDED))
    buf.push("n", ev("y", 5, EventType.CREDENTIAL_REVOKED))
    buf.push("n", ev("b", 5, EventType.CREDENTIAL_USED))
    buf.push("n", ev("a", 5, EventType.CREDENTIAL_USED))
    buf.push("n", ev("early", 1))
    buf.push("n", ev("late", 100))
    assert ids(buf.ready()) == ["early", "a", "b", "y", "z"]
    assert buf.released_up_to == (T0 + timedelta(seconds=5)).timestamp()


def test_the_nhi_travels_with_its_event_and_exact_duplicates_both_come_out() -> None:
    buf = ReorderBuffer(WINDOW)
    e = ev("same", 0)
    buf.push("n1", e)
    buf.push("n2", e)
    buf.push("n1", e)
    assert buf.seq == 3
    assert [(nhi, x.id) for nhi, x in buf.drain()] == [("n1", "same"), ("n1", "same"), ("n2", "same")]


def test_newest_only_moves_forward() -> None:
    buf = ReorderBuffer(WINDOW)
    buf.push("n", ev("a", 50))
    buf.push("n", ev("b", 20))
    assert buf.newest == (T0 + timedelta(seconds=50)).timestamp()
    assert ids(buf.ready()) == ["b"]  # 20 <= 50 - 10
    assert len(buf) == 1


def test_late_counts_only_events_behind_what_was_released() -> None:
    buf = ReorderBuffer(WINDOW)
    buf.push("n", ev("a", 0))
    buf.push("n", ev("b", 30))
    assert ids(buf.ready()) == ["a"]
    assert buf.late == 0
    buf.push("n", ev("same-time", 0))  # not behind: equal to the last released time
    assert buf.late == 0
    buf.push("n", ev("behind", -0.5))
    assert buf.late == 1
    buf.push("n", ev("inside", 25))  # behind the newest, but not behind the release: not late
    assert buf.late == 1
    assert ids(buf.ready()) == ["behind", "same-time"]  # still released, in order, not dropped


def test_no_event_is_late_before_anything_was_released() -> None:
    buf = ReorderBuffer(WINDOW)
    buf.push("n", ev("b", 30))
    buf.push("n", ev("a", -1000))
    assert buf.late == 0


def test_drain_releases_everything_in_order_and_moves_the_release_mark() -> None:
    buf = ReorderBuffer(WINDOW)
    for i, t in enumerate([3, 1, 2]):
        buf.push("n", ev(f"e{i}", t))
    assert ids(buf.drain()) == ["e1", "e2", "e0"]
    assert len(buf) == 0 and buf.released_up_to == (T0 + timedelta(seconds=3)).timestamp()
    assert list(buf.drain()) == []
    buf.push("n", ev("after", 2))
    assert buf.late == 1


def test_a_zero_window_releases_up_to_the_newest_event() -> None:
    buf = ReorderBuffer(timedelta(0))
    buf.push("n", ev("a", 1))
    buf.push("n", ev("b", 2))
    assert ids(buf.ready()) == ["a", "b"]


def test_release_is_lazy_and_resumable() -> None:
    buf = ReorderBuffer(WINDOW)
    for i in range(5):
        buf.push("n", ev(f"e{i}", i))
    buf.push("n", ev("far", 100))
    it = buf.ready()
    assert next(it)[1].id == "e0" and len(buf) == 5  # one popped so far
    assert ids(it) == ["e1", "e2", "e3", "e4"]
    assert len(buf) == 1
