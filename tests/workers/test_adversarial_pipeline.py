"""Attacks, DP (with empty Poisson samples and a budget) and rewards through the real jobs and tasks."""

import json

import pytest

from apps.federated.lifecycle import experiment_start
from apps.federated.models import Experiment, Round
from apps.federated.privacy import rounds_within_budget
from apps.federated.selectors import round_audit
from apps.federated.services import experiment_create
from apps.ledger.models import Record
from apps.ledger.watch import chain_verify

pytestmark = pytest.mark.django_db(transaction=True)


def run(queue, **settings):
    experiment = experiment_create(**{"dataset": "iris", "clients": 4, "difficulty_bits": 8, **settings})
    experiment_start(experiment=experiment)
    queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    assert chain_verify().valid
    return experiment


def test_a_budget_stops_the_workers_too_and_empty_samples_do_not_stall_a_round(queue):
    allowed = rounds_within_budget(sampling_rate=0.2, noise_multiplier=1.0, delta=1e-5, max_epsilon=5.0, rounds=12)
    assert 1 < allowed < 12
    experiment = run(queue, rounds=12, dp=True, fraction=0.2, max_epsilon=5.0)
    rounds = list(Round.objects.filter(experiment=experiment).order_by("number"))
    assert [row.number for row in rounds] == list(range(allowed + 1)) and max(r.epsilon for r in rounds) <= 5.0
    assert any(row.clients_sampled == 0 for row in rounds[1:]), "q = 0.2 over 4 clients: some rounds sample nobody"
    for row in rounds:
        assert round_audit(experiment=experiment, number=row.number).ok


def test_colluders_and_rewards_through_the_workers(queue):
    experiment = run(queue, clients=8, rounds=2, attack="alie", malicious=2, rewards=True)
    for number in range(3):
        assert round_audit(experiment=experiment, number=number).ok
    kinds = [json.loads(body)["kind"] for body in Record.objects.filter(experiment_id=experiment.id, type="reward")
             .values_list("body", flat=True)]
    assert kinds.count("mining") == 3 and kinds.count("data") == 2 * 8
