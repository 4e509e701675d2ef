"""Server-side aggregation of client models into the next global model.

Every aggregator first screens the updates (wrong shape, NaN or Inf are rejected with a reason, before any
arithmetic), then combines the rest and says which updates it accepted. Summation runs in a fixed order with
elementwise numpy operations, so the same updates give bit-identical results: a recorded round can be re-derived
and its hash checked.
"""

from dataclasses import dataclass, field

import numpy as np

AGGREGATORS = ("fedavg", "median", "trimmed_mean", "krum", "bulyan")


class AggregationError(ValueError):
    """The aggregator cannot tolerate this many faulty updates among this many; the message says why."""


def tolerance_error(name, *, clients, byzantine):
    """Why `name` cannot tolerate `byzantine` faulty updates among `clients`, or None when it can.

    Krum needs n > 2f + 2 (Blanchard et al. 2017), Bulyan n >= 4f + 3 (El Mhamdi et al. 2018).
    """
    if name == "krum" and clients <= 2 * byzantine + 2:
        return (f"Krum tolerating {byzantine} faulty clients needs at least {2 * byzantine + 3} clients per round "
                f"(n > 2f + 2); this round has {clients}")
    if name == "bulyan" and clients < 4 * byzantine + 3:
        return (f"Bulyan tolerating {byzantine} faulty clients needs at least {4 * byzantine + 3} clients per round "
                f"(n >= 4f + 3); this round has {clients}")
    return None


@dataclass
class Aggregation:
    params: np.ndarray
    accepted: list[int]
    rejected: dict[int, str] = field(default_factory=dict)  # update index -> why


def updates_screen(updates, size):
    """(indices of usable updates, {index: reason} for the others)."""
    usable, rejected = [], {}
    for index, update in enumerate(updates):
        update = np.asarray(update)
        if update.ndim != 1 or update.size != size:
            rejected[index] = f"wrong shape: {update.size} parameters where the model has {size}"
        elif not np.issubdtype(update.dtype, np.floating):
            rejected[index] = f"wrong type: {update.dtype}, not floating point"
        elif not np.isfinite(update).all():
            rejected[index] = "non-finite values (NaN or Inf)"
        else:
            usable.append(index)
    return usable, rejected


def fedavg(updates, weights):
    """Average weighted by sample counts, summed in the given order."""
    total = float(sum(weights))
    result = np.zeros_like(updates[0], dtype=np.float64)
    for update, weight in zip(updates, weights):
        result += (weight / total) * update
    return result


def coordinate_median(updates):
    return np.median(np.stack(updates), axis=0)


def trimmed_mean(updates, trim_ratio):
    """Per coordinate: drop the floor(trim_ratio * n) smallest and largest values, average the rest.

    At least one value per coordinate always stays, however few the updates.
    """
    stacked = np.sort(np.stack(updates), axis=0)
    trim = min(int(trim_ratio * len(updates)), (len(updates) - 1) // 2)
    return stacked[trim : len(updates) - trim].mean(axis=0)


def squared_distances(updates):
    """The matrix of squared Euclidean distances between the updates, ||a||^2 + ||b||^2 - 2 a.b, floored at 0."""
    stacked = np.stack(updates)
    squared_norms = np.einsum("ij,ij->i", stacked, stacked)
    distances = squared_norms[:, None] + squared_norms[None, :] - 2.0 * (stacked @ stacked.T)
    np.maximum(distances, 0.0, out=distances)
    np.fill_diagonal(distances, 0.0)  # exactly, whatever the rounding of the line above
    return distances


def krum_scores(updates, byzantine, *, distances=None):
    """Krum's score of each update: the sum of squared distances to its n - f - 2 nearest others.

    With too few updates for that (n <= f + 2) the neighbourhood shrinks to one. `distances` (the updates'
    squared_distances) saves computing them again.
    """
    if distances is None:
        distances = squared_distances(updates)
    n = len(distances)
    neighbours = min(max(n - byzantine - 2, 1), n - 1)
    # Each row sorted, its first value (the update's own distance, 0: the smallest there is) left out.
    nearest = np.sort(distances, axis=1)[:, 1 : neighbours + 1]
    return [float(score) for score in nearest.sum(axis=1)]


def krum_rank(updates, byzantine, *, distances=None):
    """(update indices from the lowest Krum score up, scores). Equal scores keep the lower index first, so the
    choice is reproducible."""
    scores = krum_scores(updates, byzantine, distances=distances)
    return sorted(range(len(scores)), key=lambda i: (scores[i], i)), scores


def bulyan(updates, byzantine):
    """(params, indices selected) of Bulyan (El Mhamdi et al. 2018), as Flower's `aggregate_bulyan` with Krum.

    Selection: theta = n - 2f times, Krum (its n - f - 2 neighbours counted among the updates still left) picks
    the most central remaining update, which leaves the pool. Aggregation, per coordinate: the beta = theta - 2f
    selected values closest to the coordinate-wise median of the selected updates, averaged (numpy's mean of
    those values sorted by distance to the median, ties to the lower selection position).
    """
    n = len(updates)
    theta, beta = n - 2 * byzantine, n - 4 * byzantine
    distances = squared_distances(updates)  # computed once: each step ranks a sub-matrix of it
    remaining = list(range(n))
    selected = []
    for _ in range(theta):
        if len(remaining) == 1:
            best = remaining[0]
        else:
            ranked, _ = krum_rank(None, byzantine, distances=distances[np.ix_(remaining, remaining)])
            best = remaining[ranked[0]]
        selected.append(best)
        remaining.remove(best)
    stacked = np.stack([updates[i] for i in selected])
    median = np.median(stacked, axis=0)
    closest = np.argsort(np.abs(stacked - median), axis=0, kind="stable")[:beta]
    return np.take_along_axis(stacked, closest, axis=0).mean(axis=0), sorted(selected)


def aggregate(name, *, updates, weights, previous, trim_ratio=0.1, byzantine=0, krum_select=1):
    """Screens the updates and aggregates the usable ones with the named aggregator.

    `previous` (the current global model) gives the expected size and is kept when nothing is usable.
    Krum selects `krum_select` updates with the lowest scores (1 is Krum, more is Multi-Krum) and averages them
    weighted by samples, as FedAvg does and as Flower's `aggregate_krum` does (the Multi-Krum paper averages
    them plainly). Bulyan raises AggregationError when the usable updates are too few to tolerate `byzantine`
    faulty ones (n >= 4f + 3); the settings refuse such a configuration up front (config.py).
    """
    usable, rejected = updates_screen(updates, len(previous))
    if not usable:
        return Aggregation(np.array(previous, dtype=np.float64, copy=True), [], rejected)
    chosen = [np.asarray(updates[i], dtype=np.float64) for i in usable]
    chosen_weights = [weights[i] for i in usable]
    if name == "fedavg":
        return Aggregation(fedavg(chosen, chosen_weights), usable, rejected)
    if name == "median":
        return Aggregation(coordinate_median(chosen), usable, rejected)
    if name == "trimmed_mean":
        return Aggregation(trimmed_mean(chosen, trim_ratio), usable, rejected)
    if name == "bulyan":
        # Krum alone still ranks a round left with fewer updates (its neighbourhood shrinks, see krum_scores);
        # Bulyan's trimming has nothing to keep then.
        problem = tolerance_error(name, clients=len(chosen), byzantine=byzantine)
        if problem:
            raise AggregationError(problem)
        params, selected = bulyan(chosen, byzantine)
        for position in sorted(set(range(len(chosen))) - set(selected)):
            rejected[usable[position]] = f"bulyan: not among the {len(selected)} updates Krum selects in turn"
        return Aggregation(params, [usable[i] for i in selected], dict(sorted(rejected.items())))
    if name == "krum":
        if len(chosen) == 1:
            return Aggregation(chosen[0].copy(), usable, rejected)
        ranked, scores = krum_rank(chosen, byzantine)
        selected = sorted(ranked[: min(krum_select, len(chosen))])
        for position in ranked[len(selected) :]:
            rejected[usable[position]] = f"krum: score {scores[position]:.6g} not among the {len(selected)} lowest"
        params = fedavg([chosen[i] for i in selected], [chosen_weights[i] for i in selected])
        return Aggregation(params, [usable[i] for i in selected], dict(sorted(rejected.items())))
    raise ValueError(f"unknown aggregator {name!r}: choose one of {', '.join(AGGREGATORS)}")
