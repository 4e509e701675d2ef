"""The whole pipeline of an experiment in this process, through the real jobs and tasks (tests/workers/conftest.py
replaces only the queue)."""

import pytest

from apps.events.models import Event
from apps.federated.lifecycle import experiment_start, train_batches
from apps.federated.models import ClientUpdate, Experiment, Round
from apps.federated.selectors import round_audit
from apps.federated.training import TrainingStopped
from apps.federated.services import clients_train, experiment_create, experiment_run, experiment_run_round
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


def test_clients_train_in_batches_two_per_worker_process_with_sizes_a_client_apart():
    assert train_batches([5, 1, 4, 2, 3], 1) == [[5, 1, 4], [2, 3]]
    assert train_batches(list(range(10)), 2) == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert train_batches([7, 8], 4) == [[7], [8]]  # never an empty job
    batches = train_batches(list(range(1000)), 3)
    assert len(batches) == 6 and {len(batch) for batch in batches} == {166, 167}
    assert [client for batch in batches for client in batch] == list(range(1000))


def test_a_round_trained_in_batches_records_what_the_in_process_engine_records(queue, settings):
    settings.FEDCHAIN_CLUSTER_WORKERS = 1
    setup = {"dataset": "digits", "clients": 9, "rounds": 2, "difficulty_bits": 8, "model": "mlp", "hidden": "8"}
    background = experiment_create(**setup)
    experiment_start(experiment=background)
    queue.run_all()
    background.refresh_from_db()
    assert background.status == Experiment.Status.FINISHED, background.error
    for number in (1, 2):
        jobs = Job.objects.filter(experiment_id=background.id, round_number=number, task__endswith="train_client")
        assert sorted(len(job.clients) for job in jobs) == [4, 5]  # two jobs for the one worker process
        assert all(len(job.result["updates"]) == len(job.clients) for job in jobs)
    foreground = experiment_run(experiment=experiment_create(**setup))
    assert list(Round.objects.filter(experiment=background).values_list("global_model_hash", flat=True)) == list(
        Round.objects.filter(experiment=foreground).values_list("global_model_hash", flat=True)
    )


def test_a_batch_stops_training_once_the_claim_is_gone_whichever_client_it_is_at():
    experiment = experiment_create(dataset="iris", clients=4, rounds=1, difficulty_bits=8)
    experiment_run_round(experiment=experiment, number=0)
    one_client = []
    clients_train(experiment=experiment, round_number=1, client_indices=[0], should_stop=lambda: one_client.append(1))
    asked = []
    with pytest.raises(TrainingStopped):  # within the second client's training
        clients_train(experiment=experiment, round_number=1, client_indices=[0, 1, 2],
                      should_stop=lambda: asked.append(1) or len(asked) > len(one_client))
    assert len(asked) == len(one_client) + 1
