import pytest
from django.db import transaction

from apps.events.services import event_emit, events_after, last_event_seq

pytestmark = pytest.mark.django_db


def test_events_come_back_in_sequence_after_a_given_seq():
    first = event_emit(type="round", payload={"round": 1}, experiment_id=1)
    second = event_emit(type="block", payload={"height": 1})
    third = event_emit(type="round", payload={"round": 2}, experiment_id=2)
    assert first.seq < second.seq < third.seq
    assert [e.seq for e in events_after(first.seq)] == [second.seq, third.seq]
    assert [e.seq for e in events_after(0, experiment_id=2)] == [third.seq]
    assert last_event_seq() == third.seq
    assert third.as_message() == {"seq": third.seq, "type": "round", "experiment": 2, "data": {"round": 2}}


def test_an_event_is_rolled_back_with_its_transaction():
    kept = event_emit(type="block", payload={"height": 1})
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type="block", payload={"height": 2})
        raise RuntimeError("the block write failed")
    assert [e.seq for e in events_after(0)] == [kept.seq]
