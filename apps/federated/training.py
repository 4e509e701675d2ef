"""Local training: minibatch SGD with FedProx's proximal term, deterministic given its random generator."""

from dataclasses import dataclass

import numpy as np

from .nn import Backprop


class TrainingStopped(Exception):
    """should_stop() turned true: the training was abandoned part way (nothing of it is to be kept)."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.1
    # FedProx: mu/2 * ||w - w_global||^2 keeps a client near the global model on skewed data; 0 is plain SGD.
    mu: float = 0.0


def sgd_train(spec, start, x, y, config, rng, should_stop=None):
    """Parameters after `config.epochs` passes of shuffled minibatch SGD from `start` (which is not modified).

    Returns (params, train_loss): the mean minibatch loss of the last epoch (the data term, without the
    proximal term). Diverged training returns non-finite parameters; aggregators reject them. `should_stop`, a
    cheap callable, is asked before every minibatch; once it answers true, TrainingStopped is raised, so a
    cancelled job stops within a step, however long its training.
    """
    params = np.array(start, dtype=np.float64, copy=True)
    backprop = Backprop(spec, params)  # views into params: the in-place updates below are what it reads
    grad = backprop.grad
    n = len(y)
    batch = min(config.batch_size, n)
    epoch_loss = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(config.epochs):
            order = rng.permutation(n)
            total = 0.0
            for begin in range(0, n, batch):
                if should_stop is not None and should_stop():
                    raise TrainingStopped("training stopped: should_stop() is true")
                rows = order[begin : begin + batch]
                loss = backprop(x[rows], y[rows])
                if config.mu:
                    grad += config.mu * (params - start)
                params -= config.lr * grad
                total += loss * len(rows)
            epoch_loss = total / n
    return params, epoch_loss
