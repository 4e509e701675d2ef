"""The whole pipeline of an experiment in this process, through the real jobs and tasks (tests/workers/conftest.py
replaces only the queue)."""

import pytest

from apps.events.models import Event
from apps.federated.lifecycle import experiment_start
from apps.federated.models import ClientUpdate, Experiment, Round
from apps.federated.selectors import round_audit
from apps.federated.services import experiment_create
from apps.ledger.models import Block, PendingBatch
from apps.ledger.watch import chain_verify
from apps.workers.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = {"dataset": "iris", "clients": 4, "rounds": 3, "difficulty_bits": 8, "fraction": 0.5, "min_clients": 2}


def test_an_experiment_runs_to_the_end_and_every_round_is_on_the_chain_in_order(queue):
    experiment = experiment_create(**SMALL)
    experiment_start(experiment=experiment)
    queue.run_all()

    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    assert list(Round.objects.filter(experiment=experiment).values_list("number", flat=True)) == [0, 1, 2, 3]
    blocks = list(Block.objects.filter(experiment_id=experiment.id, status=Block.Status.MAIN).order_by("height"))
    assert [block.round_number for block in blocks] == [0, 1, 2, 3]
    assert not PendingBatch.objects.filter(status=PendingBatch.Status.PENDING).exists()
    assert chain_verify().valid
    for number in range(4):
        assert round_audit(experiment=experiment, number=number).ok
    # Each round trained the clients sampled for it, each update names the process that trained it.
    assert Job.objects.filter(task__endswith="train_client", status=Job.Status.DONE).count() == 3 * 2
    assert ClientUpdate.objects.filter(round__experiment=experiment).exclude(worker="").count() == 3 * 2
    assert not Job.objects.exclude(status=Job.Status.DONE).exists()
    statuses = [e.payload["status"] for e in Event.objects.filter(type="experiment", experiment_id=experiment.id)
                if "progress" not in e.payload]
    assert statuses == ["queued", "running", "finished"]
