"""The demo experiment offered on a first run."""

from django.db import transaction

from .lifecycle import experiment_launch
from .models import Experiment

# A demo a newcomer watches train and mine in well under a minute on a laptop.
DEMO_EXPERIMENT = {
    "name": "Demo: handwritten digits, 8 clients, FedAvg",
    "dataset": "digits",
    "clients": 8,
    "rounds": 25,
    "partition": "dirichlet",
    "alpha": 0.5,
    "model": "softmax",
    "aggregator": "fedavg",
    "local_epochs": 1,
    "batch_size": 16,
    "lr": 0.1,
    # About half a million hashes a block: a second or so of mining, long enough to watch the progress
    # bar on a busy laptop; the chain's retargeting raises it if blocks come faster than its spacing.
    "difficulty_bits": 19,
    "seed": 1,
}


def demo_launch():
    """Launches the demo experiment; None when the database already has one (the demo is for a first run)."""
    with transaction.atomic():
        if Experiment.objects.exists():
            return None
        return experiment_launch(**DEMO_EXPERIMENT)
