"""Guided scenarios for teaching: each starts what it shows in one click and says what to look for."""

from django.db import transaction

from apps.federated.lifecycle import experiment_launch

# The same federation twice; only how the data is split between the clients differs.
_SHARED = {
    "dataset": "digits",
    "clients": 10,
    "rounds": 20,
    "model": "softmax",
    "aggregator": "fedavg",
    "local_epochs": 2,
    "batch_size": 16,
    "lr": 0.1,
    "difficulty_bits": 12,
    "seed": 7,
}

SCENARIOS = {
    "iid-vs-non-iid": {
        "title": "IID vs non-IID data",
        "summary": "The same ten clients learn to read handwritten digits twice: once with the data shuffled evenly "
        "between them (IID), once with each client holding mostly a few digits (Dirichlet, α = 0.1).",
        "look_for": [
            "The non-IID run's accuracy climbs more slowly and more unevenly: each client's update pulls the model "
            "towards its own few digits, and averaging them helps less.",
            "Both runs are measured against the same centralized baseline (dashed): the gap to it is the cost of "
            "federating skewed data.",
            "The settings table lists only partition and alpha: everything else, seed included, is the same, so "
            "the difference in the curves comes from the data split alone.",
            "Open either experiment and look at its Clients chart: even stacks for IID, one or two colours per "
            "client for non-IID.",
        ],
        "experiments": [
            {"name": "Scenario: IID", **_SHARED, "partition": "iid"},
            {"name": "Scenario: non-IID (Dirichlet α=0.1)", **_SHARED, "partition": "dirichlet", "alpha": 0.1},
        ],
    },
}

TAMPER = {
    "title": "Tamper with the chain (in a sandbox)",
    "summary": "A copy of the newest blocks is checked by the chain's own rules in memory. Change one recorded "
    "number in the copy, as someone editing the database would, and see the check name the block it breaks; "
    "then restore the copy. The real chain is never touched: its badge stays as it is.",
    "look_for": [
        "The sandbox badge turns red and names the block you changed and the rule it breaks (its Merkle root "
        "no longer matches its records), even though only one number changed.",
        "Every block after it is invalid too: each header commits the previous block's hash.",
        "Restoring the copy turns the badge green again; the real chain's badge above never changed.",
    ],
}


def scenario_launch(key, *, owner=None):
    """Starts the scenario's experiments (all or, when the work budget refuses one, none: ValidationError);
    returns their ids in order."""
    with transaction.atomic():
        return [experiment_launch(owner=owner, **settings).id for settings in SCENARIOS[key]["experiments"]]
