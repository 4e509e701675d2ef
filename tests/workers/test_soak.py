"""A 60 s soak on SQLite: two experiments train and mine at once in two worker processes. No "database is
locked", no failed task, nothing lost: every recorded round is complete and ends up on the chain exactly once."""

import time

import pytest

from apps.events.models import Event
from apps.federated.lifecycle import experiment_cancel, experiment_start
from apps.federated.models import Experiment, Round
from apps.federated.services import experiment_create
from apps.ledger.models import Block, PendingBatch
from apps.ledger.watch import chain_verify
from apps.workers.models import Job
from tests.conftest import wait_for

from .test_worker_processes import assert_log_clean, started_pool

pytestmark = [pytest.mark.slow, pytest.mark.soak]  # `make soak`; CI runs it after `make test`

SOAK_SECONDS = 60


def test_two_experiments_train_and_mine_at_once_for_a_minute_and_nothing_is_lost(worker_pool, tmp_path):
    started_pool(worker_pool, tmp_path)
    experiments = [
        experiment_create(name="soak mlp", dataset="synthetic", synthetic_samples=40_000, clients=10, rounds=10_000,
                          model="mlp", hidden=[64], local_epochs=2, difficulty_bits=16, baseline=False),
        experiment_create(name="soak softmax", dataset="digits", clients=12, fraction=0.5, rounds=10_000,
                          aggregator="median", difficulty_bits=18),
    ]
    for experiment in experiments:
        experiment_start(experiment=experiment)
    time.sleep(SOAK_SECONDS)
    for experiment in experiments:
        experiment_cancel(experiment=experiment)
    # Recorded rounds still go on the chain after a cancel: wait for the last of them.
    wait_for(lambda: not PendingBatch.objects.filter(status=PendingBatch.Status.PENDING).exists()
             and not Job.objects.filter(status__in=["queued", "running"]).exists(),
             timeout=90, interval=0.5, message="the recorded rounds to be mined")

    assert_log_clean(tmp_path)  # above all: no "database is locked"
    assert not Job.objects.filter(status=Job.Status.FAILED).exists()
    for experiment in experiments:
        experiment.refresh_from_db()
        assert experiment.status == Experiment.Status.CANCELLED and experiment.error == ""
        rounds = list(Round.objects.filter(experiment=experiment).order_by("number"))
        assert len(rounds) >= 5, f"{experiment.name} recorded only {len(rounds)} rounds in {SOAK_SECONDS} s"
        assert [r.number for r in rounds] == list(range(len(rounds)))
        for round_row in rounds[1:]:
            assert round_row.update_set.count() == round_row.clients_sampled > 0
        main = Block.objects.filter(experiment_id=experiment.id, status=Block.Status.MAIN).order_by("height")
        assert list(main.values_list("round_number", flat=True)) == [r.number for r in rounds]
        events = Event.objects.filter(type="round", experiment_id=experiment.id)
        assert sorted(event.payload["round"] for event in events) == [r.number for r in rounds]
    heights = list(Block.objects.filter(status=Block.Status.MAIN).order_by("height").values_list("height", flat=True))
    assert heights == list(range(len(heights)))
    # Blocks that lost a race are kept as stale; each of their rounds is on the main chain too.
    for stale in Block.objects.filter(status=Block.Status.STALE):
        assert Block.objects.filter(status="main", experiment_id=stale.experiment_id, round_number=stale.round_number)
    assert Event.objects.filter(type="block").count() == Block.objects.exclude(height=0).count()  # all but genesis
    report = chain_verify()
    assert report.valid, report.as_dict()
