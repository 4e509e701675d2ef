"""The model and data of the example: softmax regression in numpy on scikit-learn's digits.

Each SuperNode is told its shard by its node config (`partition-id`, `num-partitions`); the shards are a seeded
permutation of the training split, so every run with the same seed trains on the same data. The server keeps
only the held-out test split, which no client trains on.
"""

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

N_FEATURES, N_CLASSES = 64, 10
TEST_SHARE = 0.2


def load_digits():
    """scikit-learn's digits, read from the file scikit-learn ships, as its load_digits() reads it, without
    importing scikit-learn: Flower starts a ClientApp process per message, and the import costs more CPU than
    the training."""
    package = Path(importlib.util.find_spec("sklearn").submodule_search_locations[0])
    data = np.loadtxt(package / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


@lru_cache(maxsize=4)
def _splits(seed):
    x, y = load_digits()
    x = x.astype(np.float64) / 16.0
    order = np.random.default_rng([seed, 0]).permutation(len(y))
    n_test = int(len(y) * TEST_SHARE)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def load_shard(partition_id, num_partitions, seed):
    x, y, _, _ = _splits(seed)
    rows = np.array_split(np.arange(len(y)), num_partitions)[partition_id]
    return x[rows], y[rows]


def load_test(seed):
    _, _, x, y = _splits(seed)
    return x, y


def initial_params(seed):
    rng = np.random.default_rng([seed, 1])
    return [rng.normal(0.0, 0.01, (N_FEATURES, N_CLASSES)), np.zeros(N_CLASSES)]


def _probabilities(params, x):
    weights, bias = params
    logits = x @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def evaluate(params, x, y):
    """(mean cross-entropy, accuracy)."""
    probabilities = _probabilities(params, x)
    loss = float(-np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-12, None)).mean())
    accuracy = float((probabilities.argmax(axis=1) == y).mean())
    return loss, accuracy


def train(params, x, y, *, epochs, batch_size, lr, rng):
    """Mini-batch SGD from `params`; returns (new parameters, mean training loss of the last epoch)."""
    weights, bias = (np.array(p, dtype=np.float64, copy=True) for p in params)
    losses = []
    for _ in range(epochs):
        losses = []
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            rows = order[start : start + batch_size]
            probabilities = _probabilities((weights, bias), x[rows])
            losses.append(-np.log(np.clip(probabilities[np.arange(len(rows)), y[rows]], 1e-12, None)).mean())
            probabilities[np.arange(len(rows)), y[rows]] -= 1.0
            gradient = probabilities / len(rows)
            weights -= lr * (x[rows].T @ gradient)
            bias -= lr * gradient.sum(axis=0)
    return [weights, bias], float(np.mean(losses))
