"""Client-level differential privacy: DP-FedAvg (McMahan et al. 2018) and its accountant.

Each round, every client takes part independently with probability q (Poisson sampling, the `fraction`
setting). The server clips each update's delta (its difference from the global model) to L2 norm `clip`, sums
the clipped deltas in client order, adds Gaussian noise of standard deviation `noise_multiplier * clip` to every
coordinate of the sum and divides by the expected number of clients q * N (the fixed-denominator estimator:
one client more or less moves the sum by at most `clip`). A round is then the sampled Gaussian mechanism
with sampling rate q and noise multiplier sigma; `rounds` of them compose, and Google's dp-accounting library
(its RDP accountant, add-or-remove-one neighbouring relation) turns that into epsilon at the configured delta.

What this protects is what the global models reveal about whether a client took part. The server sees each
update, and so does whoever reads the update blobs; and the noise is drawn from a stream of the experiment's
seed, so that an audit re-derives a round bit for bit: whoever knows the seed can take the noise out again.
"""

import logging
from contextlib import contextmanager
from functools import lru_cache

import numpy as np


def clip_delta(delta, clip):
    """`delta` scaled down to L2 norm `clip` when it is longer (a new array), and whether it was."""
    norm = float(np.linalg.norm(delta))
    if norm <= clip:
        return np.array(delta, dtype=np.float64, copy=True), False
    return delta * (clip / norm), True


def dp_fedavg(previous, updates, *, clip, noise_multiplier, expected_clients, rng):
    """(next global model, [whether each update was clipped]) of one DP-FedAvg round.

    Arithmetic, in this order: delta_k = update_k - previous; each clipped (clip_delta); summed from zeros in
    the given order; noise = rng.normal(0, noise_multiplier * clip, size) added to the sum; the result divided
    by `expected_clients` and added to `previous`. With no update the round releases previous + noise.
    """
    previous = np.asarray(previous, dtype=np.float64)
    total = np.zeros_like(previous)
    clipped = []
    for update in updates:
        delta, was_clipped = clip_delta(np.asarray(update, dtype=np.float64) - previous, clip)
        total += delta
        clipped.append(was_clipped)
    total += rng.normal(0.0, noise_multiplier * clip, size=previous.shape)
    return previous + total / expected_clients, clipped


@contextmanager
def _quiet_orders():
    # The RDP accountant logs a warning for each fractional order whose series does not converge and leaves
    # that order out; the remaining orders still bound epsilon. Rounds would repeat the same warning.
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@lru_cache(maxsize=4096)
def epsilon_spent(*, sampling_rate, noise_multiplier, delta, rounds):
    """Epsilon at `delta` after `rounds` rounds of the sampled Gaussian mechanism (dp-accounting's RDP
    accountant, its default orders)."""
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant

    if rounds == 0:
        return 0.0
    event = dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(sampling_rate, dp_event.GaussianDpEvent(noise_multiplier)), rounds
    )
    accountant = rdp_privacy_accountant.RdpAccountant()
    with _quiet_orders():
        accountant.compose(event)
        return float(accountant.get_epsilon(delta))


def rounds_within_budget(*, sampling_rate, noise_multiplier, delta, max_epsilon, rounds):
    """The most rounds (at most `rounds`) whose epsilon at `delta` stays within `max_epsilon` (epsilon grows
    with the rounds: a binary search, about log2(rounds) accountant calls)."""
    def spent(count):
        return epsilon_spent(
            sampling_rate=sampling_rate, noise_multiplier=noise_multiplier, delta=delta, rounds=count
        )

    low, high = 0, rounds  # spent(low) <= max_epsilon always (0 rounds spend nothing)
    while low < high:
        middle = (low + high + 1) // 2
        if spent(middle) <= max_epsilon:
            low = middle
        else:
            high = middle - 1
    return low


def clients_poisson(n_clients, sampling_rate, rng):
    """Sorted indices of the clients taking part in a DP round: each independently with probability q."""
    if sampling_rate >= 1:
        return np.arange(n_clients)
    return np.flatnonzero(rng.random(n_clients) < sampling_rate)
