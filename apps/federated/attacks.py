"""Byzantine clients of the simulation: who is malicious, and what each attack makes of a client's update.

Pure numpy. Every attack is a function of the round's global model, the client's honestly trained model (or,
for "a little is enough", the round's honestly trained models) and the attack's own random stream, so an attacked
round is as reproducible as a clean one. Update vectors are flat model parameters; an update's "delta" is its
difference from the global model it was trained from.

- label_flip: the client trains on labels c -> C - 1 - c (its data is poisoned, its update is sent as trained).
- sign_flip: it sends the global model minus `scale` times its delta.
- noise: it sends the global model plus Gaussian noise of standard deviation `scale` in every coordinate.
- scaling: model replacement (Bagdasaryan et al. 2020): it trains on flipped labels and boosts that delta by
  `scale`, so that its model survives being averaged with the honest ones.
- alie: "a little is enough" (Baruch et al. 2019): the colluders all send mean - z * std, per coordinate, of the
  round's honestly trained models (they are assumed to know them, the paper's strongest setting), with z the
  largest shift that the majority rule still lets through: z = Phi^-1((n - s) / n), s = floor(n / 2 + 1) - f.
"""

import math
from statistics import NormalDist

import numpy as np

ATTACKS = ("none", "label_flip", "sign_flip", "noise", "scaling", "alie")
# Attacks whose clients train on flipped labels.
DATA_ATTACKS = ("label_flip", "scaling")
# Attacks that need the round's other updates: applied when the server has them all (round_aggregate).
COLLUDING_ATTACKS = ("alie",)


def malicious_count(clients, *, malicious=0, fraction=0.0):
    """How many of `clients` are malicious: the count given, or round(fraction * clients)."""
    if malicious:
        return malicious
    # The tolerance keeps 0.15 * 20 at 3 despite binary floating point.
    return min(clients, math.floor(fraction * clients + 0.5 + 1e-9))


def malicious_clients(clients, count, rng):
    """Sorted indices of the `count` malicious clients, drawn uniformly from `rng`."""
    if count <= 0:
        return np.array([], dtype=np.int64)
    return np.sort(rng.choice(clients, size=count, replace=False))


def labels_flip(y, n_classes):
    """Label flipping: class c becomes C - 1 - c."""
    return (n_classes - 1) - np.asarray(y)


def update_attack(attack, *, previous, trained, scale, rng):
    """The parameters a malicious client sends instead of `trained` (for the attacks applied client by client;
    data attacks have already flipped its labels)."""
    if attack == "label_flip":
        return trained
    if attack == "sign_flip":
        return previous - scale * (trained - previous)
    if attack == "noise":
        return previous + rng.normal(0.0, scale, size=previous.shape)
    if attack == "scaling":
        return previous + scale * (trained - previous)
    raise ValueError(f"{attack!r} is not an attack applied client by client")


def alie_z(n, f):
    """Baruch et al.'s z_max for f colluders among n clients (0 when the majority rule leaves no room)."""
    supporters = math.floor(n / 2 + 1) - f
    share = (n - supporters) / n
    if not 0 < share < 1:
        return 0.0
    return NormalDist().inv_cdf(share)


def alie_update(honest, f):
    """The update every colluder sends: mean - z * std of the honestly trained models, per coordinate."""
    stacked = np.stack(honest)
    return stacked.mean(axis=0) - alie_z(len(honest), f) * stacked.std(axis=0)


def detection_rates(malicious, rejected):
    """(true positive rate, false positive rate) of an aggregator's rejections against the known malicious set.

    `malicious` and `rejected` are parallel sequences of booleans, one pair per update of a round. A rate is None
    when there is nothing to detect (no malicious update) or nothing to spare (no honest one).
    """
    malicious, rejected = list(map(bool, malicious)), list(map(bool, rejected))
    if len(malicious) != len(rejected):
        raise ValueError("one malicious flag and one rejected flag per update")
    positives = sum(malicious)
    negatives = len(malicious) - positives
    caught = sum(m and r for m, r in zip(malicious, rejected))
    false_alarms = sum(r and not m for m, r in zip(malicious, rejected))
    return (caught / positives if positives else None, false_alarms / negatives if negatives else None)
