"""Guided scenarios for teaching: each starts what it shows in one click and says what to look for."""

from django.db import transaction

from apps.federated.lifecycle import experiment_launch

# The federation the scenarios start: IID vs non-IID runs it twice, differing only in how the data is split.
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

# Twenty clients, four of them (20%) flipping the sign of their update ten times over, against FedAvg and against
# Multi-Krum tolerating those four and keeping the n - f = 16 updates it trusts most.
_ATTACKED = {**_SHARED, "clients": 20, "partition": "iid"}
_SIGN_FLIP = {"attack": "sign_flip", "malicious": 4, "attack_scale": 10.0}
_MULTI_KRUM = {"aggregator": "krum", "byzantine": 4, "krum_select": 16}

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
    "attack-vs-defence": {
        "title": "Attack vs defence",
        "summary": "Twenty clients learn to read handwritten digits; four of them (20%) are malicious and send the "
        "opposite of what they learned, ten times over (sign flipping). The same attacked federation runs with "
        "plain averaging (FedAvg) and with a robust aggregator (Multi-Krum, told to expect 4 faulty clients), "
        "beside a clean run with no attacker as the reference.",
        "look_for": [
            "Attacked FedAvg's accuracy collapses in the first rounds and its loss climbs off the chart: four "
            "updates of -10 × their honest change outweigh the sixteen honest ones in the average.",
            "Attacked Multi-Krum follows the clean run closely: each round it keeps the 16 updates closest to "
            "their neighbours and drops the rest, so the flipped updates never reach the model.",
            "The settings table lists only what differs: the attack, the malicious count and the aggregator's "
            "settings; data, seed and training are the same, so the gap between the curves is the attack's "
            "and the defence's alone.",
            "Open the Multi-Krum experiment: its detection chart shows which share of the malicious updates it "
            "rejected (true positives) and of the honest ones (false positives), round by round; each rejection is "
            "on the chain beside the update.",
        ],
        "experiments": [
            # Short names: the comparison's legends name each run and its baseline in one line, even at 390 px.
            {"name": "Clean FedAvg (no attack)", **_ATTACKED},
            {"name": "FedAvg, 4 attackers", **_ATTACKED, **_SIGN_FLIP},
            {"name": "Multi-Krum, 4 attackers", **_ATTACKED, **_SIGN_FLIP, **_MULTI_KRUM},
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
