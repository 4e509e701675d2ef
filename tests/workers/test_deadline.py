"""A round waits for its sampled clients until its deadline; then the late ones are recorded as dropped."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.events.models import Event
from apps.federated.lifecycle import experiment_start
from apps.federated.models import ClientUpdate, Experiment, Round
from apps.federated.services import experiment_create
from apps.ledger.watch import chain_verify
from apps.workers.models import Job
from apps.workers.services import job_claim

from .test_pipeline import SMALL

pytestmark = pytest.mark.django_db(transaction=True)


def test_at_the_deadline_the_round_aggregates_the_clients_in_and_drops_the_late_ones(queue, settings):
    settings.FEDCHAIN_ROUND_DEADLINE = 300
    experiment = experiment_start(experiment=experiment_create(**{**SMALL, "clients": 6, "min_clients": 4}))
    queue.run(queue.take("run_round"))  # round 0, and round 1's four sampled clients sent out
    round_job = Job.objects.get(key=f"round/{experiment.id}/1")
    scheduled = [item for item in queue.items if item.job_id == round_job.pk]
    assert len(scheduled) == 1 and scheduled[0].run_after == round_job.deadline_at  # a wake-up at the deadline
    assert round_job.deadline_at > timezone.now() + timedelta(seconds=290)

    queue.run(queue.take("train_client"))
    queue.run(queue.take("train_client"))
    in_progress = job_claim(queue.take("train_client").job_id)  # a third client is still training
    queue.run(scheduled[0])  # run early: before the deadline the round waits
    assert not Round.objects.filter(experiment=experiment, number=1).exists()

    Job.objects.filter(pk=round_job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    queue.run(scheduled[0])

    round_one = Round.objects.get(experiment=experiment, number=1)
    trained = Job.objects.filter(experiment_id=experiment.id, round_number=1, status="done", clients__isnull=False)
    dropped = Job.objects.filter(experiment_id=experiment.id, round_number=1, status="dropped")
    assert trained.count() == 2 and dropped.count() == 2  # four train jobs of one client (two workers)
    assert (round_one.clients_sampled, round_one.clients_dropped, round_one.clients_accepted) == (4, 2, 2)
    assert all(job.error.startswith("late:") for job in dropped)
    assert sorted(ClientUpdate.objects.filter(round=round_one).values_list("client__index", flat=True)) == sorted(
        client for job in trained for client in job.clients
    )
    events = Event.objects.filter(type="client_update", experiment_id=experiment.id, payload__status="dropped")
    assert [e.payload["clients"] for e in events] == [sorted(client for job in dropped for client in job.clients)]

    # The client still training when the round closed, and a late one starting now, write nothing.
    queue.run(queue.take("train_client"))
    assert in_progress.status == "running" and Job.objects.get(pk=in_progress.pk).status == "dropped"
    assert ClientUpdate.objects.filter(round=round_one).count() == 2

    queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED and chain_verify().valid


def test_a_round_with_no_client_in_at_its_deadline_waits_for_the_first_one(queue):
    experiment = experiment_start(experiment=experiment_create(**SMALL))
    queue.run(queue.take("run_round"))
    round_job = Job.objects.get(key=f"round/{experiment.id}/1")
    Job.objects.filter(pk=round_job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    queue.run(next(item for item in queue.items if item.job_id == round_job.pk))
    assert not Round.objects.filter(experiment=experiment, number=1).exists()
    queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED
