import numpy as np
import pytest

from apps.federated.aggregation import aggregate, coordinate_median, fedavg, krum_scores, trimmed_mean


def honest(n, size=6, seed=0):
    rng = np.random.default_rng(seed)
    return [1.0 + 0.01 * rng.normal(size=size) for _ in range(n)]


def test_fedavg_weights_by_samples():
    updates = [np.array([0.0, 10.0]), np.array([4.0, 2.0])]
    result = aggregate("fedavg", updates=updates, weights=[1, 3], previous=np.zeros(2))
    assert np.allclose(result.params, [3.0, 4.0])
    assert result.accepted == [0, 1] and result.rejected == {}
    assert np.allclose(fedavg(updates, [1, 3]), np.average(np.stack(updates), axis=0, weights=[1, 3]))


def test_fedavg_is_bit_reproducible_and_order_matters_only_by_rounding():
    updates = honest(50, size=1000, seed=3)
    weights = list(range(1, 51))
    assert fedavg(updates, weights).tobytes() == fedavg([u.copy() for u in updates], weights).tobytes()


@pytest.mark.parametrize("name", ["fedavg", "median", "trimmed_mean", "krum"])
def test_nan_inf_and_wrong_shapes_are_rejected_before_aggregation(name):
    updates = honest(6)
    updates[1] = updates[1].copy()
    updates[1][2] = np.nan
    updates[3] = np.full(6, np.inf)
    updates[4] = np.ones(5)
    result = aggregate(name, updates=updates, weights=[10] * 6, previous=np.zeros(6))
    assert result.rejected[1] == "non-finite values (NaN or Inf)"
    assert result.rejected[3] == "non-finite values (NaN or Inf)"
    assert result.rejected[4] == "wrong shape: 5 parameters where the model has 6"
    assert set(result.accepted) <= {0, 2, 5}
    assert np.isfinite(result.params).all() and np.allclose(result.params, 1.0, atol=0.05)


def test_nothing_usable_keeps_the_previous_model():
    previous = np.array([1.0, 2.0])
    result = aggregate("fedavg", updates=[np.array([np.nan, 1.0])], weights=[5], previous=previous)
    assert result.accepted == [] and np.array_equal(result.params, previous)
    assert result.params is not previous


@pytest.mark.parametrize("name", ["median", "trimmed_mean", "krum"])
def test_robust_aggregators_resist_a_poisoned_update_that_fedavg_does_not(name):
    updates = honest(7)
    updates[2] = np.full(6, 1e6)
    weights = [10] * 7
    poisoned = aggregate("fedavg", updates=updates, weights=weights, previous=np.zeros(6))
    robust = aggregate(name, updates=updates, weights=weights, previous=np.zeros(6), trim_ratio=0.2, byzantine=1)
    assert np.abs(poisoned.params - 1.0).max() > 1e4
    assert np.abs(robust.params - 1.0).max() < 0.05


def test_krum_picks_the_most_central_update_and_names_the_rest():
    updates = honest(7)
    updates[5] = np.full(6, 50.0)
    result = aggregate("krum", updates=updates, weights=[1] * 7, previous=np.zeros(6), byzantine=1)
    assert len(result.accepted) == 1 and 5 not in result.accepted
    assert sorted(result.rejected) == sorted(set(range(7)) - set(result.accepted))
    assert "krum: score" in result.rejected[5]
    scores = krum_scores(updates, 1)
    assert result.accepted == [int(np.argmin(scores))]
    assert np.array_equal(result.params, updates[result.accepted[0]])


def test_multi_krum_selects_m_and_with_everyone_equals_fedavg():
    updates = honest(6)
    updates[0] = np.full(6, -30.0)
    weights = [1, 2, 3, 4, 5, 6]
    multi = aggregate("krum", updates=updates, weights=weights, previous=np.zeros(6), byzantine=1, krum_select=4)
    assert len(multi.accepted) == 4 and 0 not in multi.accepted
    everyone = aggregate("krum", updates=updates, weights=weights, previous=np.zeros(6), krum_select=6)
    assert np.allclose(everyone.params, fedavg(updates, weights))


def test_median_and_trimmed_mean_by_coordinate():
    updates = [np.array([1.0, 9.0]), np.array([2.0, 3.0]), np.array([100.0, 4.0]), np.array([3.0, 5.0])]
    assert np.array_equal(coordinate_median(updates), [2.5, 4.5])
    assert np.array_equal(trimmed_mean(updates, 0.25), [2.5, 4.5])
    assert np.allclose(trimmed_mean(updates, 0.0), np.mean(updates, axis=0))
    # However large the ratio, one value per coordinate stays.
    assert np.array_equal(trimmed_mean(updates[:3], 0.49), [2.0, 4.0])


def test_unknown_aggregator_is_refused():
    with pytest.raises(ValueError, match="unknown aggregator 'mean'"):
        aggregate("mean", updates=honest(2), weights=[1, 1], previous=np.zeros(6))


def flower_results(updates, weights):
    return [([update], weight) for update, weight in zip(updates, weights)]


@pytest.mark.parametrize("n,f", [(7, 1), (11, 2), (20, 4)])
def test_bulyan_matches_flowers_aggregate_bulyan(n, f):
    flower = pytest.importorskip("flwr.server.strategy.aggregate")
    rng = np.random.default_rng(n)
    updates = [rng.normal(size=30) for _ in range(n - f)] + [rng.normal(5.0, 3.0, size=30) for _ in range(f)]
    weights = list(rng.integers(1, 100, size=n))
    result = aggregate("bulyan", updates=updates, weights=weights, previous=np.zeros(30), byzantine=f)
    expected = flower.aggregate_bulyan(
        flower_results(updates, weights), num_malicious=f, aggregation_rule=flower.aggregate_krum, to_keep=0
    )[0]
    np.testing.assert_allclose(result.params, expected, rtol=1e-13, atol=1e-15)
    assert len(result.accepted) == n - 2 * f
    assert set(result.rejected) == set(range(n)) - set(result.accepted)
    assert all(reason.startswith("bulyan:") for reason in result.rejected.values())


def test_bulyan_rejects_the_outliers_and_trims_per_coordinate():
    updates = honest(11, size=4, seed=5)
    updates[2] = np.full(4, 100.0)
    updates[7] = np.full(4, -100.0)
    result = aggregate("bulyan", updates=updates, weights=[1] * 11, previous=np.zeros(4), byzantine=2)
    assert {2, 7} <= set(result.rejected)
    assert np.allclose(result.params, 1.0, atol=0.05)


@pytest.mark.parametrize(
    "name,clients,byzantine,refused",
    [("krum", 4, 1, True), ("krum", 5, 1, False), ("bulyan", 6, 1, True), ("bulyan", 7, 1, False),
     ("bulyan", 10, 2, True), ("bulyan", 11, 2, False), ("median", 2, 5, False)],
)
def test_tolerance_bounds(name, clients, byzantine, refused):
    from apps.federated.aggregation import tolerance_error

    problem = tolerance_error(name, clients=clients, byzantine=byzantine)
    assert (problem is not None) == refused
    if refused:
        assert f"tolerating {byzantine} faulty" in problem and f"this round has {clients}" in problem


def test_bulyan_refuses_a_round_it_cannot_tolerate():
    from apps.federated.aggregation import AggregationError

    with pytest.raises(AggregationError, match=r"at least 7 clients per round \(n >= 4f \+ 3\); this round has 6"):
        aggregate("bulyan", updates=honest(6), weights=[1] * 6, previous=np.zeros(6), byzantine=1)
