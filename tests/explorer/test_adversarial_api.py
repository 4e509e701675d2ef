"""Balances, a client's history, epsilon and detection rates in the JSON API."""

import pytest

from apps.core.keys import node_id

from .conftest import run_experiment

pytestmark = pytest.mark.django_db

PAID = {"clients": 8, "rounds": 2, "attack": "sign_flip", "malicious": 2, "attack_scale": 30.0, "aggregator": "krum",
        "byzantine": 2, "krum_select": 4, "rewards": True}


def test_balances_add_up_the_reward_records(client):
    experiment = run_experiment(**PAID)
    balances = client.get(f"/api/experiments/{experiment.id}/balances/").json()
    assert balances["rewards"] is True and balances["miners"] == [{"node": node_id(), "balance": 150.0}]
    paid = {row["client"]: row["balance"] for row in balances["clients"]}
    history = {index: client.get(f"/api/experiments/{experiment.id}/clients/{index}/").json() for index in range(8)}
    assert paid == {index: h["balance"] for index, h in history.items() if h["balance"]}
    for h in history.values():
        if h["malicious"]:
            assert h["balance"] == 0 and not any(row["accepted"] for row in h["rounds"])
        assert [row["round"] for row in h["rounds"]] == [1, 2]
        assert h["rounds"][-1]["balance"] == h["balance"]


def test_metrics_carry_detection_rates_and_epsilon(client):
    attacked = run_experiment(**PAID)
    metrics = client.get(f"/api/experiments/{attacked.id}/").json()["metrics"]
    assert metrics[0]["true_positive_rate"] is None and metrics[1]["true_positive_rate"] == 1.0
    assert all(row["epsilon"] is None for row in metrics)
    private = run_experiment(dp=True, fraction=1.0)
    metrics = client.get(f"/api/experiments/{private.id}/").json()["metrics"]
    assert metrics[0]["epsilon"] == 0.0 < metrics[1]["epsilon"] < metrics[2]["epsilon"]


def test_unknown_clients_and_bad_indices_are_clear_4xx(client):
    experiment = run_experiment()
    missing = client.get(f"/api/experiments/{experiment.id}/clients/99/")
    assert missing.status_code == 404 and "has no client 99" in missing.json()["detail"]
    assert client.get(f"/api/experiments/{experiment.id}/clients/x/").status_code == 400
    assert client.get("/api/experiments/12345/balances/").status_code == 404
