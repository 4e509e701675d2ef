"""Server-side aggregation of client models into the next global model.

Every aggregator first screens the updates (wrong shape, NaN or Inf are rejected with a reason, before any
arithmetic), then combines the rest and says which updates it accepted. Summation runs in a fixed order with
elementwise numpy operations, so the same updates give bit-identical results: a recorded round can be re-derived
and its hash checked.
"""

from dataclasses import dataclass, field

import numpy as np

AGGREGATORS = ("fedavg", "median", "trimmed_mean", "krum")


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


def krum_scores(updates, byzantine):
    """Krum's score of each update: the sum of squared distances to its n - f - 2 nearest others.

    With too few updates for that (n <= f + 2) the neighbourhood shrinks to one.
    """
    stacked = np.stack(updates)
    squared_norms = np.einsum("ij,ij->i", stacked, stacked)
    distances = squared_norms[:, None] + squared_norms[None, :] - 2.0 * (stacked @ stacked.T)
    np.maximum(distances, 0.0, out=distances)
    n = len(updates)
    neighbours = max(n - byzantine - 2, 1)
    scores = []
    for row in range(n):
        others = np.delete(distances[row], row)
        scores.append(float(np.sort(others)[:neighbours].sum()))
    return scores


def aggregate(name, *, updates, weights, previous, trim_ratio=0.1, byzantine=0, krum_select=1):
    """Screens the updates and aggregates the usable ones with the named aggregator.

    `previous` (the current global model) gives the expected size and is kept when nothing is usable.
    Krum selects `krum_select` updates with the lowest scores (1 is Krum, more is Multi-Krum) and averages them
    weighted by samples, as FedAvg does.
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
    if name == "krum":
        if len(chosen) == 1:
            return Aggregation(chosen[0].copy(), usable, rejected)
        scores = krum_scores(chosen, byzantine)
        # Stable order: equal scores keep the lower client first, so the choice is reproducible.
        ranked = sorted(range(len(chosen)), key=lambda i: (scores[i], i))
        selected = sorted(ranked[: min(krum_select, len(chosen))])
        for position in ranked[len(selected) :]:
            rejected[usable[position]] = f"krum: score {scores[position]:.6g} not among the {len(selected)} lowest"
        params = fedavg([chosen[i] for i in selected], [chosen_weights[i] for i in selected])
        return Aggregation(params, [usable[i] for i in selected], dict(sorted(rejected.items())))
    raise ValueError(f"unknown aggregator {name!r}: choose one of {', '.join(AGGREGATORS)}")
