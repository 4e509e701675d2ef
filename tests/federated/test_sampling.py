import numpy as np
import pytest

from apps.federated.sampling import clients_per_round, clients_sample


@pytest.mark.parametrize(
    ("n", "fraction", "minimum", "expected"),
    [(10, 1.0, 1, 10), (10, 0.3, 1, 3), (20, 0.3, 1, 6), (10, 0.01, 1, 1), (10, 0.1, 4, 4), (3, 0.5, 5, 3)],
)
def test_count_is_the_fraction_rounded_up_with_a_minimum(n, fraction, minimum, expected):
    assert clients_per_round(n, fraction=fraction, minimum=minimum) == expected
    chosen = clients_sample(n, fraction=fraction, minimum=minimum, rng=np.random.default_rng(0))
    assert len(chosen) == expected == len(set(chosen.tolist()))
    assert np.all(np.diff(chosen) > 0) and chosen.min() >= 0 and chosen.max() < n


def test_sampling_varies_with_the_seed_and_covers_everyone_over_time():
    draws = [tuple(clients_sample(20, fraction=0.3, minimum=1, rng=np.random.default_rng(s))) for s in range(40)]
    assert len(set(draws)) > 30
    assert set().union(*draws) == set(range(20))


def test_bad_fraction_is_refused():
    with pytest.raises(ValueError, match="fraction"):
        clients_per_round(10, fraction=0.0, minimum=1)
