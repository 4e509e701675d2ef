import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.federated.partition import (
    label_counts,
    partition,
    partition_dirichlet,
    partition_iid,
    partition_quantity,
    partition_shards,
)


def labels_of(n, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, size=n)


def assert_exact_cover(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))
    assert all(len(part) >= 1 for part in parts)
    assert all(np.all(np.diff(part) > 0) for part in parts)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    classes=st.integers(2, 10),
    data=st.data(),
    scheme=st.sampled_from(["iid", "dirichlet", "shards", "quantity"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_scheme_gives_each_sample_to_exactly_one_client_and_each_client_a_sample(n, classes, data, scheme, seed):
    labels = labels_of(n, classes, seed)
    n_clients = data.draw(st.integers(1, n))
    alpha = data.draw(st.sampled_from([0.01, 0.1, 1.0, 100.0]))
    k = data.draw(st.integers(1, len(np.unique(labels))))
    parts = partition(
        labels, scheme=scheme, n_clients=n_clients, rng=np.random.default_rng(seed), alpha=alpha,
        classes_per_client=k,
    )
    assert len(parts) == n_clients
    assert_exact_cover(parts, n)


def test_iid_parts_are_near_equal():
    parts = partition_iid(labels_of(1000, 10), 7, np.random.default_rng(1))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def classes_held(labels, parts, n_classes):
    return (label_counts(labels, parts, n_classes) > 0).sum(axis=1)


def test_dirichlet_skew_grows_as_alpha_shrinks():
    labels = labels_of(5000, 10)
    skewed = partition_dirichlet(labels, 20, 0.1, np.random.default_rng(2))
    mild = partition_dirichlet(labels, 20, 100.0, np.random.default_rng(2))
    assert classes_held(labels, skewed, 10).mean() < 5
    assert classes_held(labels, mild, 10).mean() == 10


def test_shards_give_each_client_exactly_k_classes_and_cover_every_class():
    labels = labels_of(3000, 10)
    parts = partition_shards(labels, 25, 2, np.random.default_rng(3))
    assert np.all(classes_held(labels, parts, 10) == 2)
    assert np.all(label_counts(labels, parts, 10).sum(axis=0) == np.bincount(labels, minlength=10))


def test_quantity_skew_varies_sizes_but_not_label_mix():
    labels = labels_of(5000, 10)
    parts = partition_quantity(labels, 20, 0.5, np.random.default_rng(4))
    sizes = np.array([len(p) for p in parts])
    assert sizes.max() > 4 * sizes.min()
    big = parts[int(sizes.argmax())]
    assert np.abs(np.bincount(labels[big], minlength=10) / len(big) - 0.1).max() < 0.06


def test_label_counts_sum_to_the_shard_sizes():
    labels = labels_of(500, 4)
    parts = partition_dirichlet(labels, 9, 0.3, np.random.default_rng(5))
    counts = label_counts(labels, parts, 4)
    assert counts.shape == (9, 4)
    assert counts.sum(axis=1).tolist() == [len(p) for p in parts]


def test_same_seed_same_partition():
    labels = labels_of(800, 10)
    first = partition(labels, scheme="dirichlet", n_clients=12, rng=np.random.default_rng(9), alpha=0.2)
    second = partition(labels, scheme="dirichlet", n_clients=12, rng=np.random.default_rng(9), alpha=0.2)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheme": "iid", "n_clients": 11}, "11 clients cannot each get a sample"),
        ({"scheme": "iid", "n_clients": 0}, "at least one client"),
        ({"scheme": "dirichlet", "n_clients": 2, "alpha": 0}, "alpha must be positive"),
        ({"scheme": "shards", "n_clients": 2, "classes_per_client": 5}, "classes per client"),
        ({"scheme": "zipf", "n_clients": 2}, "unknown partition 'zipf'"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        partition(np.array([0, 1, 2] * 3 + [0]), rng=np.random.default_rng(0), **kwargs)
