import numpy as np
import pytest

from apps.federated.datasets import DATASETS, TEST_FRACTION, dataset_load, dataset_min_train_size


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "iris", "wine"])
def test_bundled_sets_split_stratified_and_standardized_on_training_statistics(name):
    data = dataset_load(name)
    n = len(data.y_train) + len(data.y_test)
    assert abs(len(data.y_test) - n * TEST_FRACTION) <= data.n_classes
    train_share = np.bincount(data.y_train) / len(data.y_train)
    test_share = np.bincount(data.y_test) / len(data.y_test)
    assert np.abs(train_share - test_share).max() < 0.03
    assert np.allclose(data.x_train.mean(axis=0), 0.0, atol=1e-9)
    stds = data.x_train.std(axis=0)
    assert np.all(np.isclose(stds, 1.0) | np.isclose(stds, 0.0))
    # The test part is transformed with the training statistics, not its own.
    assert not np.allclose(data.x_test.mean(axis=0), 0.0, atol=1e-6)
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int64
    assert dataset_min_train_size(name) == len(data.y_train)


def test_the_split_is_fixed_and_the_arrays_cannot_be_modified():
    first = dataset_load("digits")
    from apps.federated import datasets

    datasets._dataset_cached.cache_clear()
    second = dataset_load("digits")
    assert first is not second
    assert np.array_equal(first.x_test, second.x_test) and np.array_equal(first.y_train, second.y_train)
    with pytest.raises(ValueError):
        second.x_train[0, 0] = 1.0


def test_synthetic_size_is_a_parameter():
    small = dataset_load("synthetic", synthetic_samples=400)
    large = dataset_load("synthetic", synthetic_samples=2000)
    assert len(small.y_train) + len(small.y_test) == 400
    assert len(large.y_train) + len(large.y_test) == 2000
    assert small.n_classes == large.n_classes == 10
    for samples in (400, 2000):
        assert dataset_min_train_size("synthetic", synthetic_samples=samples) <= len(
            dataset_load("synthetic", synthetic_samples=samples).y_train
        )


def test_unknown_names_and_sizes_are_refused_plainly():
    with pytest.raises(ValueError, match="unknown data set 'mnist'"):
        dataset_load("mnist")
    with pytest.raises(ValueError, match="between"):
        dataset_load("synthetic", synthetic_samples=5)
    assert "synthetic" in DATASETS
