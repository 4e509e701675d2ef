import numpy as np

from apps.federated import datasets, engine
from apps.federated.blobs import content_address
from apps.federated.config import experiment_config_validate
from apps.federated.engine import Federation, centralized_baseline, federation_for


def run_rounds(config):
    federation = Federation(config)
    params = federation.initial_params()
    hashes = [content_address(federation.serialize(params))]
    accuracies = [federation.evaluate(params)[1]]
    for round_number in range(1, config.rounds + 1):
        clients = federation.round_clients(round_number)
        updates = [federation.client_train(params, round_number, int(k))[0] for k in clients]
        params = federation.aggregate(params, updates, [len(federation.shards[k]) for k in clients], round_number).params
        hashes.append(content_address(federation.serialize(params)))
        accuracies.append(federation.evaluate(params)[1])
    return hashes, accuracies


def test_same_settings_and_seed_give_the_same_model_hashes_and_another_seed_does_not():
    config = experiment_config_validate({"dataset": "wine", "clients": 4, "rounds": 3, "model": "mlp", "hidden": "8"})
    first, _ = run_rounds(config)
    datasets._dataset_cached.cache_clear()  # rebuilt from scratch, not shared
    second, _ = run_rounds(config)
    third, _ = run_rounds(experiment_config_validate({**config.as_dict(), "seed": 1}))
    assert first == second
    assert first[0] != third[0] and first[-1] != third[-1]


def test_a_client_update_does_not_depend_on_the_order_clients_train_in():
    config = experiment_config_validate({"dataset": "iris", "clients": 5, "rounds": 1})
    federation = federation_for(config)
    start = federation.initial_params()
    forward = [federation.client_train(start, 1, k)[0].tobytes() for k in range(5)]
    backward = [federation.client_train(start, 1, k)[0].tobytes() for k in reversed(range(5))]
    assert forward == backward[::-1]
    assert len(set(forward)) == 5


def test_federated_digits_learns_and_the_baseline_is_centralized_training():
    config = experiment_config_validate({"dataset": "digits", "clients": 10, "rounds": 8})
    _, accuracies = run_rounds(config)
    assert accuracies[0] < 0.3
    assert accuracies[-1] > 0.9
    baseline = centralized_baseline(config)
    assert len(baseline.accuracies) == 9
    assert baseline.accuracies[0] == accuracies[0]  # both start from the seeded round-0 model
    assert baseline.accuracies[-1] > 0.93


def test_parse_refuses_a_model_of_another_shape():
    federation = federation_for(experiment_config_validate({"dataset": "iris", "clients": 2, "rounds": 1}))
    other = federation_for(experiment_config_validate({"dataset": "wine", "clients": 2, "rounds": 1}))
    blob = other.serialize(other.initial_params())
    try:
        federation.parse(blob)
    except ValueError as error:
        assert "shapes" in str(error)
    else:
        raise AssertionError("a wine model parsed as an iris one")
    assert federation.parse_update(blob).size == other.spec.size
    assert engine.stream(0, 1).integers(1 << 30) == engine.stream(0, 1).integers(1 << 30)
