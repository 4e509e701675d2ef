import numpy as np

from apps.federated.datasets import dataset_load
from apps.federated.nn import ModelSpec, evaluate, init_params
from apps.federated.training import TrainConfig, sgd_train


def setup(hidden=()):
    data = dataset_load("iris")
    spec = ModelSpec(data.n_features, data.n_classes, hidden)
    return data, spec, init_params(spec, np.random.default_rng(0))


def test_training_lowers_the_loss_and_leaves_the_start_untouched():
    data, spec, start = setup(hidden=(8,))
    before = start.copy()
    params, train_loss = sgd_train(
        spec, start, data.x_train, data.y_train, TrainConfig(epochs=20, batch_size=8, lr=0.1), np.random.default_rng(1)
    )
    assert np.array_equal(start, before)
    start_loss, _ = evaluate(spec, start, data.x_train, data.y_train)
    end_loss, accuracy = evaluate(spec, params, data.x_train, data.y_train)
    assert end_loss < start_loss / 3 and accuracy > 0.9
    assert 0 < train_loss < start_loss


def test_same_generator_seed_gives_bit_identical_parameters():
    data, spec, start = setup()
    config = TrainConfig(epochs=3, batch_size=5, lr=0.05)
    first, loss_1 = sgd_train(spec, start, data.x_train, data.y_train, config, np.random.default_rng(7))
    second, loss_2 = sgd_train(spec, start, data.x_train, data.y_train, config, np.random.default_rng(7))
    other, _ = sgd_train(spec, start, data.x_train, data.y_train, config, np.random.default_rng(8))
    assert first.tobytes() == second.tobytes() and loss_1 == loss_2
    assert first.tobytes() != other.tobytes()


def test_fedprox_mu_keeps_the_model_closer_to_the_global_one():
    data, spec, start = setup()
    distances = []
    for mu in (0.0, 1.0, 10.0):
        params, _ = sgd_train(
            spec, start, data.x_train, data.y_train, TrainConfig(epochs=10, batch_size=8, lr=0.05, mu=mu),
            np.random.default_rng(1),
        )
        distances.append(np.linalg.norm(params - start))
    assert distances[0] > distances[1] > distances[2]


def test_batch_larger_than_the_shard_uses_the_whole_shard():
    data, spec, start = setup()
    x, y = data.x_train[:3], data.y_train[:3]
    params, loss = sgd_train(spec, start, x, y, TrainConfig(epochs=1, batch_size=100, lr=0.1), np.random.default_rng(0))
    assert np.isfinite(loss) and not np.array_equal(params, start)


def test_divergence_gives_non_finite_parameters_instead_of_an_exception():
    data, spec, start = setup(hidden=(16,))
    params, loss = sgd_train(
        spec, start * 1e150, data.x_train, data.y_train, TrainConfig(epochs=2, batch_size=4, lr=1e150),
        np.random.default_rng(0),
    )
    assert not np.isfinite(params).all() or not np.isfinite(loss)
