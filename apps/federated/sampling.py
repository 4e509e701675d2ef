"""Which clients take part in a round."""

import math

import numpy as np


def clients_per_round(n_clients, *, fraction, minimum):
    """max(minimum, ceil(fraction * n_clients)), and all of them at most."""
    if not 0 < fraction <= 1:
        raise ValueError("the fraction of clients per round must be in (0, 1]")
    # The tolerance keeps 0.3 * 10 at 3 despite binary floating point.
    return min(n_clients, max(minimum, math.ceil(fraction * n_clients - 1e-9)))


def clients_sample(n_clients, *, fraction, minimum, rng):
    """Sorted indices of the clients taking part: `clients_per_round` distinct ones drawn uniformly."""
    count = clients_per_round(n_clients, fraction=fraction, minimum=minimum)
    if count == n_clients:
        return np.arange(n_clients)
    return np.sort(rng.choice(n_clients, size=count, replace=False))
