"""A round's mining waits in the queue behind the next round's training, first in, first out: the first worker
left with no client to train mines it while another trains its last clients or aggregates, and it never waits
behind work queued after it (apps.federated.lifecycle.PRIORITY). Huey's own queue, as the workers read it."""

import pytest
from huey.contrib.djhuey import HUEY

from apps.federated.lifecycle import experiment_start, round_run
from apps.federated.services import experiment_create
from apps.workers.models import Job

from .test_pipeline import SMALL

pytestmark = pytest.mark.django_db(transaction=True)


def dequeued():
    """The jobs of the queue's tasks in the order workers take them (emptying it), a task to run later (which a
    worker puts in Huey's schedule) in parentheses."""
    jobs = []
    while (task := HUEY.dequeue()) is not None:
        _path, (job_id,), _kwargs = task.args
        key = Job.objects.get(pk=job_id).key
        key = key.rsplit("/", 1)[0] if key.startswith("train/") else key
        jobs.append(f"({key})" if task.eta is not None else key)
    return jobs


def test_a_round_is_mined_after_the_next_rounds_training_and_before_training_queued_later():
    HUEY.flush()
    try:
        first, second = (experiment_start(experiment=experiment_create(**SMALL)) for _ in range(2))
        assert dequeued() == [f"round/{first.id}/0", f"round/{second.id}/0"]
        for experiment in (first, second):  # round 0 recorded by a worker, one experiment after the other
            round_run(Job.objects.get(key=f"round/{experiment.id}/0").pk)
        train_jobs = {
            experiment.id: Job.objects.filter(key__startswith=f"train/{experiment.id}/1/").count()
            for experiment in (first, second)
        }
        assert train_jobs[first.id] >= 2
        # Round 1 is woken at its deadline, should a client never come back (its last client enqueues it sooner).
        assert dequeued() == (
            [f"(round/{first.id}/1)", f"(round/{second.id}/1)"]
            + [f"train/{first.id}/1"] * train_jobs[first.id] + [f"mine/{first.id}/0"]
            + [f"train/{second.id}/1"] * train_jobs[second.id] + [f"mine/{second.id}/0"]
        )
    finally:
        HUEY.flush()
