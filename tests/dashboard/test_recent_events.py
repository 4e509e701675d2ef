import pytest

from apps.dashboard.recent import RecentEvent, RecentEvents


def events(*seqs):
    return [RecentEvent(seq, "round", None, f"#{seq}") for seq in seqs]


def test_the_window_serves_what_came_after_a_position_it_covers():
    recent = RecentEvents(10, capacity=100)
    recent.extend(events(11, 12, 15), 15)
    assert recent.covers(10) and not recent.covers(9)
    assert [e.seq for e in recent.after(10)] == [11, 12, 15]
    assert [e.seq for e in recent.after(12)] == [15]
    assert [e.seq for e in recent.after(13)] == [15]  # seqs may have gaps
    assert recent.after(15) == []


def test_the_floor_rises_as_old_events_leave_a_full_window():
    recent = RecentEvents(0, capacity=3)
    recent.extend(events(1, 2, 3, 4), 4)
    recent.extend(events(5), 5)
    assert len(recent) == 3 and recent.floor == 2
    assert [e.seq for e in recent.after(2)] == [3, 4, 5]
    with pytest.raises(ValueError):
        recent.after(1)


@pytest.mark.parametrize("batch, position", [((3, 2), 3), ((5,), 4), ((0,), 1), ((1, 1), 1)])
def test_events_out_of_order_are_refused(batch, position):
    recent = RecentEvents(0, capacity=10)
    with pytest.raises(ValueError):
        recent.extend(events(*batch), position)
    assert len(recent) == 0 and recent.position == 0
