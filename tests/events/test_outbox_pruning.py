import pytest

from apps.events.services import outbox_prune, outbox_pruned_through
from apps.events.tasks import outbox_prune_mining_progress
from apps.events.models import Event
from apps.events.services import event_emit

pytestmark = pytest.mark.django_db


def emit(type, **payload):
    return event_emit(type=type, payload=payload).seq


def test_only_the_newest_mining_progress_events_stay_and_the_mark_says_how_far_it_went():
    progress = [emit("mining_progress", nonces=n) for n in range(3)]
    block = emit("block", height=1)
    progress += [emit("mining_progress", nonces=n) for n in range(3, 6)]
    assert outbox_pruned_through() == 0
    assert outbox_prune(keep_mining_progress=2) == 4
    assert list(Event.objects.values_list("id", flat=True)) == [block, *progress[-2:]]
    assert outbox_pruned_through() == progress[3]


def test_pruning_again_deletes_nothing_more_and_the_mark_never_moves_back():
    progress = [emit("mining_progress", nonces=n) for n in range(4)]
    outbox_prune(keep_mining_progress=1)
    assert outbox_prune(keep_mining_progress=1) == 0
    assert outbox_prune(keep_mining_progress=3) == 0
    assert outbox_pruned_through() == progress[2]


def test_the_periodic_task_keeps_the_configured_window(settings):
    settings.FEDCHAIN_MINING_PROGRESS_KEEP = 3
    for n in range(10):
        emit("mining_progress", nonces=n)
    outbox_prune_mining_progress.call_local()
    assert Event.objects.filter(type="mining_progress").count() == 3
