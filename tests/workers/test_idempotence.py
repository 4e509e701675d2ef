"""Tasks are at-least-once safe: delivered twice, replayed late or out of order, they change nothing more."""

import pytest

from apps.federated.lifecycle import experiment_start
from apps.federated.models import ClientUpdate, Experiment, Round
from apps.federated.services import experiment_create
from apps.ledger.models import Block
from apps.ledger.watch import chain_verify
from apps.workers.models import Job

from .test_pipeline import SMALL

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_task_delivered_twice_and_replayed_at_the_end_records_each_round_once(queue):
    delivered = []
    put = queue.put

    def put_twice(job, *, run_after=None):
        put(job, run_after=run_after)
        put(job, run_after=run_after)

    queue.put = put_twice
    experiment = experiment_start(experiment=experiment_create(**SMALL))
    while (item := queue.take()) is not None:
        delivered.append(item)
        queue.run(item)
    snapshot = (
        Round.objects.count(), ClientUpdate.objects.count(), Block.objects.count(), Job.objects.count(),
        list(Job.objects.order_by("id").values_list("status", "attempts")),
    )
    for item in reversed(delivered):  # the whole history again, newest first
        queue.run(item)

    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED
    assert list(Round.objects.filter(experiment=experiment).values_list("number", flat=True)) == [0, 1, 2, 3]
    assert list(
        Block.objects.filter(experiment_id=experiment.id).order_by("height").values_list("round_number", "status")
    ) == [(0, "main"), (1, "main"), (2, "main"), (3, "main")]
    assert snapshot == (
        Round.objects.count(), ClientUpdate.objects.count(), Block.objects.count(), Job.objects.count(),
        list(Job.objects.order_by("id").values_list("status", "attempts")),
    )
    # No work was done twice: one claim per job.
    for key, attempts in Job.objects.values_list("key", "attempts"):
        assert attempts == 1, key
    assert chain_verify().valid


def test_tasks_run_newest_first_still_put_each_round_on_the_chain_after_the_one_before(queue):
    experiment = experiment_start(experiment=experiment_create(**SMALL))
    while queue.items:  # last in, first out: later rounds are recorded before earlier ones are mined
        queue.run(queue.items.pop())

    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    main = Block.objects.filter(experiment_id=experiment.id, status="main").order_by("height")
    assert list(main.values_list("round_number", flat=True)) == [0, 1, 2, 3]
    assert chain_verify().valid
