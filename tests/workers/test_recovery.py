"""Recovery finds, from the database alone, the work the queue lost and the work dead workers held."""

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from apps.federated.lifecycle import experiment_start
from apps.federated.models import Experiment, Round
from apps.federated.services import experiment_create
from apps.ledger.models import Block
from apps.ledger.watch import chain_verify
from apps.workers.models import Job
from apps.core.process import process_alive
from apps.workers.services import job_claim, job_create, job_enqueue, jobs_recover
from apps.workers.tasks import queued_job_ids

from .test_pipeline import SMALL

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "apps.core.tasks.worker_identity"
HOST = socket.gethostname()


def ended_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_worker_alive_knows_ended_processes_of_this_host_only():
    assert process_alive(f"{HOST}:{os.getpid()}")
    assert not process_alive(f"{HOST}:{ended_pid()}")
    assert process_alive(f"another-host:{ended_pid()}")  # judged by its heartbeat instead


def test_a_zombie_worker_counts_as_ended():
    zombie = subprocess.Popen(["true"])
    try:
        deadline = timezone.now() + timedelta(seconds=5)
        while open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            assert timezone.now() < deadline
        assert not process_alive(f"{HOST}:{zombie.pid}")
    finally:
        zombie.wait()


def test_jobs_held_by_ended_or_silent_workers_run_again_and_live_ones_are_left_alone(queue, settings):
    settings.FEDCHAIN_CLAIM_TIMEOUT = 30
    jobs = {name: job_create(key=name, task=TASK) for name in ("ended", "silent", "live", "live-elsewhere")}
    for job in jobs.values():
        job_claim(job.pk)
    long_ago = timezone.now() - timedelta(seconds=60)
    Job.objects.filter(key="ended").update(worker=f"{HOST}:{ended_pid()}")
    Job.objects.filter(key="silent").update(worker="another-host:1", heartbeat_at=long_ago)
    Job.objects.filter(key="live-elsewhere").update(worker="another-host:2")
    queue.items.clear()  # the queue lost everything

    assert jobs_recover() == {"reclaimed": 2, "requeued": 2}
    statuses = dict(Job.objects.values_list("key", "status"))
    assert statuses == {"ended": "queued", "silent": "queued", "live": "running", "live-elsewhere": "running"}
    assert sorted(item.job_id for item in queue.items) == sorted([jobs["ended"].pk, jobs["silent"].pk])


def test_a_queued_job_is_enqueued_again_once_it_has_waited_too_long_and_by_one_recovery_only(queue, settings):
    settings.FEDCHAIN_REQUEUE_AFTER = 60
    waiting = job_create(key="waiting", task=TASK)
    recent = job_create(key="recent", task=TASK)
    Job.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timedelta(seconds=120))
    queue.items.clear()

    assert jobs_recover()["requeued"] == 1
    assert jobs_recover()["requeued"] == 0  # the first recovery moved its enqueue time
    assert [item.job_id for item in queue.items] == [waiting.pk]
    # At a worker's startup everything queued before it started is enqueued again, recent or not, unless its
    # task is still in the queue.
    assert jobs_recover(requeue_before=timezone.now(), in_queue={recent.pk})["requeued"] == 1
    assert [item.job_id for item in queue.items] == [waiting.pk, waiting.pk]


def test_the_jobs_waiting_in_the_huey_queue_and_schedule_are_known_by_id():
    HUEY.flush()
    try:
        now_job = job_create(key="now", task=TASK)  # through the configured backend: Huey
        later_job = job_create(key="later", task=TASK)
        job_enqueue(later_job, run_after=timezone.now() + timedelta(minutes=5))
        assert queued_job_ids() == {now_job.pk, later_job.pk}
        HUEY.flush()  # a lost queue
        assert queued_job_ids() == set()
    finally:
        HUEY.flush()


def test_an_experiment_whose_queue_and_workers_were_lost_mid_round_finishes_after_recovery(queue):
    experiment = experiment_create(**SMALL)
    experiment_start(experiment=experiment)
    queue.run(queue.take("run_round"))  # round 0 recorded, round 1 sent out to its clients
    queue.run(queue.take("train_client"))  # one of them trained
    training = Job.objects.filter(task__endswith="train_client", status=Job.Status.QUEUED).first()
    job_claim(training.pk)
    Job.objects.filter(pk=training.pk).update(worker=f"{HOST}:{ended_pid()}")  # killed mid-training
    queue.items.clear()  # and the queue is gone with it

    jobs_recover(requeue_before=timezone.now())
    queue.run_all()

    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    assert list(Round.objects.filter(experiment=experiment).values_list("number", flat=True)) == [0, 1, 2, 3]
    assert Block.objects.filter(experiment_id=experiment.id, status=Block.Status.MAIN).count() == 4
    assert chain_verify().valid
    training.refresh_from_db()
    assert training.status == Job.Status.DONE and training.attempts == 2
