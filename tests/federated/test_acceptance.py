"""The issue's acceptance runs, at full size (they take a few seconds)."""

import numpy as np
import pytest

from apps.federated.models import Round
from apps.federated.selectors import round_audit
from apps.federated.services import experiment_create, experiment_run
from apps.ledger.models import Block
from apps.ledger.watch import chain_verify

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def accuracy_curve(experiment):
    return np.array(Round.objects.filter(experiment=experiment).order_by("number").values_list("test_accuracy", flat=True))


def test_digits_iid_reaches_the_target_and_skewed_clients_are_noisier_but_improve():
    iid = experiment_run(experiment=experiment_create(dataset="digits", clients=10, rounds=30, partition="iid",
                                                      model="softmax", aggregator="fedavg"))
    skewed = experiment_run(experiment=experiment_create(dataset="digits", clients=20, rounds=30, partition="dirichlet",
                                                         alpha=0.1, fraction=0.3, local_epochs=5))
    iid_curve, skewed_curve = accuracy_curve(iid), accuracy_curve(skewed)
    assert iid_curve[-1] >= 0.94
    assert Round.objects.get(experiment=iid, number=30).baseline_accuracy >= 0.95
    iid_swing = np.abs(np.diff(iid_curve[1:])).mean()
    skewed_swing = np.abs(np.diff(skewed_curve[1:])).mean()
    assert skewed_swing > 2 * iid_swing
    assert skewed_curve[-5:].mean() > skewed_curve[1:6].mean() + 0.05

    for experiment in (iid, skewed):
        rounds = set(Block.objects.filter(experiment_id=experiment.id, status="main").values_list("round_number", flat=True))
        assert rounds == set(range(31))
        for number in range(31):
            report = round_audit(experiment=experiment, number=number)
            assert report.ok, report.problems
    assert chain_verify().valid
