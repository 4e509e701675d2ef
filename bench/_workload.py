"""The client workloads the round benches share, as experiment settings.

light: 100 training samples per client, an MLP with 32 hidden units, 2 local epochs of minibatches of 10 (20 SGD
steps): FedChain's fixed cost per client update weighs as much as in real runs. heavy: 200 samples, 64 hidden
units, 5 epochs (100 SGD steps on a wider model): training dominates.
"""

import math
from dataclasses import dataclass

from apps.federated.datasets import TEST_FRACTION


@dataclass(frozen=True)
class Workload:
    samples: int  # training samples per client
    epochs: int  # local epochs
    hidden: int  # units of the MLP's hidden layer


LIGHT = Workload(samples=100, epochs=2, hidden=32)
HEAVY = Workload(samples=200, epochs=5, hidden=64)
WORKLOADS = {"light": LIGHT, "heavy": HEAVY}


def experiment_settings(clients, workload, *, rounds, difficulty_bits=0):
    """Settings of an experiment of `clients` clients with `workload.samples` training samples each after the
    test split, every client every round, FedAvg, no centralized baseline (a comparison curve, not the round)."""
    samples = max(200, math.ceil(clients * workload.samples / (1 - TEST_FRACTION)) + 20)
    return {
        "dataset": "synthetic",
        "synthetic_samples": samples,
        "clients": clients,
        "rounds": rounds,
        "model": "mlp",
        "hidden": [workload.hidden],
        "local_epochs": workload.epochs,
        "batch_size": 10,
        "lr": 0.05,
        "aggregator": "fedavg",
        "difficulty_bits": difficulty_bits,  # 0: the chain's easiest target (its pow limit)
        "baseline": False,
    }
