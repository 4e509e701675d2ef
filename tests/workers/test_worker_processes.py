"""Real worker processes, started as `make run` starts them: an experiment runs to the end, and survives a worker
killed with SIGKILL while training and while mining."""

import os
import signal
import socket

import pytest
from huey.contrib.djhuey import HUEY

from apps.events.models import Event
from apps.federated.lifecycle import experiment_start
from apps.federated.models import ClientUpdate, Experiment, Round
from apps.federated.selectors import round_audit
from apps.federated.services import experiment_create
from apps.ledger.models import Block, PendingBatch
from apps.ledger.watch import chain_verify
from apps.workers.models import Job
from tests.conftest import wait_for

pytestmark = pytest.mark.slow

TERMINAL = (Experiment.Status.FINISHED, Experiment.Status.FAILED, Experiment.Status.CANCELLED)


def started_pool(worker_pool, tmp_path, workers=2):
    pool = worker_pool(workers=workers, log=tmp_path / "workers.log")
    wait_for(lambda: len(pool.worker_pids()) >= workers + 1, message="the workers and the scheduler")
    return pool


def ended(experiment, timeout):
    def status():
        experiment.refresh_from_db()
        return experiment.status in TERMINAL

    wait_for(status, timeout=timeout, interval=0.2, message=f"experiment {experiment.id} to end")
    return experiment


def assert_ran_once_to_the_end(experiment):
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    numbers = list(Round.objects.filter(experiment=experiment).order_by("number").values_list("number", flat=True))
    assert numbers == list(range(experiment.rounds + 1))
    main = Block.objects.filter(experiment_id=experiment.id, status=Block.Status.MAIN).order_by("height")
    assert list(main.values_list("round_number", flat=True)) == numbers  # one block per round, in round order
    for round_row in Round.objects.filter(experiment=experiment, number__gt=0):
        assert round_row.update_set.count() == round_row.clients_sampled > 0
    assert not PendingBatch.objects.filter(experiment_id=experiment.id, status=PendingBatch.Status.PENDING).exists()
    report = chain_verify()
    assert report.valid, report.as_dict()


def task_statuses():
    """The statuses in Huey's records of tasks run through Django's task API."""
    return {HUEY.serializer.deserialize(record)["status"] for record in HUEY.storage.result_items().values()}


def assert_log_clean(tmp_path):
    log = (tmp_path / "workers.log").read_text()
    assert "database is locked" not in log
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]


def test_workers_run_an_experiment_to_the_end_training_clients_in_parallel(worker_pool, tmp_path):
    pool = started_pool(worker_pool, tmp_path)
    # Clients that train long enough (~0.1 s each) for both workers to take some in every round.
    experiment = experiment_create(dataset="synthetic", synthetic_samples=20_000, clients=8, rounds=4, model="mlp",
                                   hidden=[64], local_epochs=10, difficulty_bits=16, baseline=False)
    experiment_start(experiment=experiment)
    assert_ran_once_to_the_end(ended(experiment, timeout=60))

    for number in range(experiment.rounds + 1):
        assert round_audit(experiment=experiment, number=number).ok
    workers = set(ClientUpdate.objects.filter(round__experiment=experiment).values_list("worker", flat=True))
    pids = {int(worker.rsplit(":", 1)[1]) for worker in workers}
    assert {worker.rsplit(":", 1)[0] for worker in workers} == {socket.gethostname()}
    assert len(pids) == 2 and pids <= set(pool.worker_pids()) and os.getpid() not in pids
    rounds = [e.payload["round"] for e in Event.objects.filter(type="round", experiment_id=experiment.id)]
    assert rounds == [0, 1, 2, 3, 4]
    progress = Event.objects.filter(type="client_update", experiment_id=experiment.id).last().payload
    assert (progress["round"], progress["rounds"], progress["clients_done"]) == (4, 4, 8)
    # Huey's record of each task that ran a job is gone (the job's row has its outcome): nothing piles up. Only
    # tasks still waiting keep theirs (the rounds' deadline wake-ups, due in ten minutes).
    wait_for(lambda: task_statuses() <= {"READY"}, message="the records of the tasks that ran to be forgotten")
    assert_log_clean(tmp_path)


def dead_claims(kind):
    return Job.objects.filter(key__startswith=f"{kind}/", status=Job.Status.RUNNING)


def test_workers_killed_mid_training_leave_no_partial_round_and_the_experiment_finishes_after_restart(
    worker_pool, tmp_path
):
    pool = started_pool(worker_pool, tmp_path)
    # Clients that train for a while, so that the kill lands mid-training.
    experiment = experiment_create(
        dataset="synthetic", synthetic_samples=60_000, clients=6, rounds=3, model="mlp", hidden=[64],
        local_epochs=8, difficulty_bits=12, baseline=False,
    )
    experiment_start(experiment=experiment)
    wait_for(lambda: Round.objects.filter(experiment=experiment, number=1).exists() and dead_claims("train").exists(),
             timeout=60, interval=0.05, message="round 2's clients to be training")
    pool.stop(signal.SIGKILL)  # the consumer and all its workers, at once

    held = list(dead_claims("train"))
    assert held  # killed while holding clients, and nothing of their round is written
    assert not Round.objects.filter(experiment=experiment, number=held[0].round_number).exists()
    for round_row in Round.objects.filter(experiment=experiment, number__gt=0):
        assert round_row.update_set.count() == round_row.clients_sampled
    assert PendingBatch.objects.filter(experiment_id=experiment.id).count() == Round.objects.filter(
        experiment=experiment
    ).count()

    started_pool(worker_pool, tmp_path)  # a new consumer; the queue is empty: only the database remembers
    wait_for(lambda: not dead_claims("train").filter(pk__in=[job.pk for job in held], attempts=1).exists(),
             timeout=15, message="the new workers to recover the dead ones' clients as they start")
    assert_ran_once_to_the_end(ended(experiment, timeout=90))
    for job in held:
        job.refresh_from_db()
        assert job.status == Job.Status.DONE and job.attempts == 2 and job.error.startswith("recovered from")
    assert_log_clean(tmp_path)


def test_a_worker_killed_mid_mining_is_replaced_and_the_chain_carries_on(worker_pool, tmp_path):
    pool = started_pool(worker_pool, tmp_path)
    # Blocks of about 4 million hashes: seconds of searching each. A block may be found before its first progress
    # report, or between the look and the kill; then the next block is the target (three rounds, four blocks).
    experiment = experiment_create(dataset="iris", clients=3, rounds=3, difficulty_bits=22, baseline=False)
    experiment_start(experiment=experiment)
    targets = []

    def miner_mid_search():
        reported = Event.objects.filter(type="mining_progress", experiment_id=experiment.id).exists()
        return reported and dead_claims("mine").filter(experiment_id=experiment.id).exclude(pk__in=targets).first()

    while True:
        miner = wait_for(miner_mid_search, timeout=90, interval=0.05, message="a miner mid-search")
        targets.append(miner.pk)
        os.kill(int(miner.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        miner = wait_for(lambda: Job.objects.filter(pk=miner.pk, status=Job.Status.DONE).first(), timeout=120,
                         message=f"{miner.key} to be done")
        if miner.attempts == 2:  # killed mid-search, then claimed again by the replacement worker
            break
        assert miner.attempts == 1 and len(targets) <= experiment.rounds, "every kill came after its block was found"

    assert_ran_once_to_the_end(ended(experiment, timeout=120))
    assert pool.proc.poll() is None  # the consumer replaced its worker and went on
    assert_log_clean(tmp_path)
