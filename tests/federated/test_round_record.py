import json

import numpy as np
import pytest

from apps.events.models import Event
from apps.federated.blobs import content_address
from apps.federated.engine import federation_for
from apps.federated.models import ClientUpdate, Round
from apps.federated.services import (
    RoundError,
    TrainedUpdate,
    client_updates_load,
    client_updates_store,
    clients_train,
    experiment_create,
    experiment_run_round,
    round_aggregate,
    round_global_params,
    round_record,
)
from apps.federated.storage import blob_read
from apps.ledger.models import PendingBatch

from .conftest import SMALL

pytestmark = pytest.mark.django_db


def test_round_zero_records_the_seeded_model_the_experiment_and_an_event():
    experiment = experiment_create(**SMALL)
    round_zero = experiment_run_round(experiment=experiment, number=0)
    federation = federation_for(experiment.config())
    expected = federation.serialize(federation.initial_params())
    assert round_zero.global_model_hash == content_address(expected)
    assert blob_read(round_zero.global_model_hash) == expected
    assert round_zero.baseline_accuracy == round_zero.test_accuracy
    batch = PendingBatch.objects.get(experiment_id=experiment.id, round_number=0)
    assert batch.parent_model is None and batch.difficulty_bits == 8
    assert [r["type"] for r in batch.records] == ["experiment", "global_model"]
    assert batch.records[0]["config"] == experiment.config().as_dict()
    assert batch.records[1]["model"] == round_zero.global_model_hash
    event = Event.objects.get(type="round", experiment_id=experiment.id)
    assert event.payload["round"] == 0 and event.payload["global_model"] == round_zero.global_model_hash


def test_a_round_records_updates_blobs_and_ledger_records_that_agree():
    experiment = experiment_create(**SMALL)
    round_zero = experiment_run_round(experiment=experiment, number=0)
    round_one = experiment_run_round(experiment=experiment, number=1, worker="test-worker")
    updates = list(ClientUpdate.objects.filter(round=round_one).select_related("client").order_by("client__index"))
    assert [u.client.index for u in updates] == [0, 1, 2, 3]
    assert all(u.accepted and u.reason == "" and u.worker == "test-worker" for u in updates)
    assert all(blob_read(u.update_hash) is not None for u in updates)
    assert round_one.clients_sampled == round_one.clients_accepted == 4
    batch = PendingBatch.objects.get(experiment_id=experiment.id, round_number=1)
    assert batch.parent_model == round_zero.global_model_hash
    chained = [(r["client"], r["update"], r["samples"], r["accepted"]) for r in batch.records if r["type"] == "client_update"]
    assert chained == [(u.client.index, u.update_hash, u.samples, True) for u in updates]
    model = batch.records[-1]
    assert (model["type"], model["model"], model["aggregator"]) == ("global_model", round_one.global_model_hash, "fedavg")
    assert (model["loss"], model["accuracy"]) == (round_one.test_loss, round_one.test_accuracy)
    assert round_one.test_loss < round_zero.test_loss


def test_the_split_steps_give_exactly_what_the_in_process_round_gives():
    settings = {**SMALL, "fraction": 0.5, "model": "mlp", "hidden": "6"}
    split, whole = experiment_create(**settings), experiment_create(**settings)
    for experiment in (split, whole):
        experiment_run_round(experiment=experiment, number=0)
    clients = federation_for(split.config()).round_clients(1)
    assert len(clients) == 2
    # Clients trained in batches of one, in any order, as separate jobs would, handing back JSON and stored blobs.
    results = [
        json.loads(json.dumps(client_updates_store(clients_train(experiment=split, round_number=1,
                                                                 client_indices=[int(k)]))))[0]
        for k in reversed(clients)
    ]
    trained = client_updates_load(results)
    outcome = round_aggregate(experiment=split, round_number=1, updates=trained)
    split_round = round_record(experiment=split, number=1, updates=outcome.updates, global_params=outcome.global_params,
                               metrics=outcome.metrics, baseline_params=outcome.baseline_params)
    whole_round = experiment_run_round(experiment=whole, number=1)
    assert split_round.global_model_hash == whole_round.global_model_hash
    assert split_round.baseline_model_hash == whole_round.baseline_model_hash
    assert np.array_equal(round_global_params(experiment=split, number=1), round_global_params(experiment=whole, number=1))
    with pytest.raises(RoundError, match="missing from the blob store"):
        client_updates_load([results[1], {**results[0], "update": "0" * 64}])


def test_bad_updates_are_recorded_as_rejected_with_their_reason():
    experiment = experiment_create(**SMALL)
    experiment_run_round(experiment=experiment, number=0)
    good = clients_train(experiment=experiment, round_number=1, client_indices=range(3))
    federation = federation_for(experiment.config())
    poisoned = np.full(federation.spec.size, np.nan)
    shard_sizes = [len(shard) for shard in federation.shards]
    bad = [
        TrainedUpdate(client_index=3, samples=shard_sizes[3], update=federation.serialize(poisoned), train_loss=None),
    ]
    outcome = round_aggregate(experiment=experiment, round_number=1, updates=good + bad)
    recorded = round_record(experiment=experiment, number=1, updates=outcome.updates, global_params=outcome.global_params,
                            metrics=outcome.metrics, baseline_params=outcome.baseline_params)
    rejected = ClientUpdate.objects.get(round=recorded, client__index=3)
    assert not rejected.accepted and rejected.reason == "non-finite values (NaN or Inf)" and rejected.train_loss is None
    assert recorded.clients_accepted == 3
    record = next(r for r in PendingBatch.objects.get(round_number=1).records if r.get("client") == 3)
    assert record["accepted"] is False and record["metrics"] == {}

    unreadable = TrainedUpdate(client_index=0, samples=shard_sizes[0], update=b"not a blob", train_loss=0.1)
    judged = round_aggregate(experiment=experiment, round_number=2, updates=[unreadable]).updates[0]
    assert not judged.accepted and judged.reason.startswith("unreadable update: not a FedChain parameter blob")


def test_updates_from_unsampled_clients_or_with_false_sample_counts_are_refused():
    experiment = experiment_create(**{**SMALL, "fraction": 0.5})
    experiment_run_round(experiment=experiment, number=0)
    federation = federation_for(experiment.config())
    sampled = [int(k) for k in federation.round_clients(1)]
    outsider = next(k for k in range(4) if k not in sampled)
    with pytest.raises(RoundError, match=f"client {outsider} was not sampled in round 1"):
        round_aggregate(experiment=experiment, round_number=1,
                        updates=clients_train(experiment=experiment, round_number=1, client_indices=[outsider]))
    honest = clients_train(experiment=experiment, round_number=1, client_indices=[sampled[0]])[0]
    inflated = TrainedUpdate(**{**honest.__dict__, "samples": honest.samples * 10})
    with pytest.raises(RoundError, match=f"claims {honest.samples * 10} samples; its shard has {honest.samples}"):
        round_aggregate(experiment=experiment, round_number=1, updates=[inflated])
    with pytest.raises(RoundError, match="two updates from the same client"):
        round_aggregate(experiment=experiment, round_number=1, updates=[honest, honest])


def test_rounds_are_recorded_once_and_in_order_and_a_failure_writes_nothing(monkeypatch):
    experiment = experiment_create(**SMALL)
    with pytest.raises(RoundError, match="no recorded round 0"):
        experiment_run_round(experiment=experiment, number=1)
    experiment_run_round(experiment=experiment, number=0)
    with pytest.raises(RoundError, match="round 0 of experiment .* is already recorded"):
        experiment_run_round(experiment=experiment, number=0)

    from apps.federated import services

    def refuse(**kwargs):
        raise ValueError("the ledger refuses")

    events = Event.objects.count()
    monkeypatch.setattr(services, "batch_submit", refuse)
    with pytest.raises(ValueError, match="the ledger refuses"):
        experiment_run_round(experiment=experiment, number=1)
    assert not Round.objects.filter(number=1).exists() and not ClientUpdate.objects.exists()
    assert Event.objects.count() == events


def test_same_settings_and_seed_give_the_same_hashes_in_every_experiment():
    settings = {**SMALL, "partition": "dirichlet", "alpha": 0.3, "aggregator": "median"}
    hashes = []
    for seed in (5, 5, 6):
        experiment = experiment_create(**settings, seed=seed)
        hashes.append([experiment_run_round(experiment=experiment, number=n).global_model_hash for n in range(3)])
    assert hashes[0] == hashes[1]
    assert hashes[0][0] != hashes[2][0] and hashes[0][2] != hashes[2][2]
