"""Attacks, Bulyan, DP and rewards through the experiment services, on small configurations."""

import json

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from apps.federated.attacks import alie_update
from apps.federated.audit import ChainRound
from apps.federated.config import ConfigError, experiment_config_validate
from apps.federated.engine import federation_for
from apps.federated.models import Client, ClientUpdate, Round
from apps.federated.privacy import epsilon_spent, rounds_within_budget
from apps.federated.selectors import client_history, experiment_balances, experiment_summary, round_audit
from apps.federated.services import experiment_create, experiment_run
from apps.ledger.models import Record

from .conftest import SMALL

pytestmark = pytest.mark.django_db

ATTACKED = {**SMALL, "clients": 8, "rounds": 2, "attack": "sign_flip", "malicious": 2}


def refusal(**settings):
    with pytest.raises(ConfigError) as caught:
        experiment_config_validate(settings)
    return caught.value.errors


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"attack": "sign_flip"}, "malicious", "needs at least one malicious client"),
        ({"malicious": 2}, "attack", "2 malicious clients need an attack"),
        ({"attack": "noise", "malicious": 2, "malicious_fraction": 0.2}, "malicious", "not both"),
        ({"attack": "noise", "malicious": 20}, "malicious", "cannot exceed the number of clients (10)"),
        ({"attack": "bogus"}, "attack", "not one of none, label_flip"),
        ({"aggregator": "bulyan", "byzantine": 2}, "byzantine", "Bulyan tolerating 2 faulty clients needs at least 11"),
        ({"aggregator": "krum", "byzantine": 4}, "byzantine", "needs at least 11 clients per round (n > 2f + 2)"),
        ({"dp": True, "aggregator": "median"}, "aggregator", "must be fedavg"),
        ({"dp": True, "min_clients": 2}, "min_clients", "Poisson sampling"),
        ({"max_epsilon": 3.0}, "max_epsilon", "needs differential privacy"),
        ({"dp": True, "max_epsilon": 0.01}, "max_epsilon", "one round already spends epsilon"),
        ({"dp": True, "dp_noise": 0}, "dp_noise", "must be in (0"),
        ({"dp": True, "dp_delta": 0.5}, "dp_delta", "must be in (0"),
        ({"dp": True, "dp_accountant": "moments"}, "dp_accountant", "'moments' is not one of rdp, pld"),
        ({"dp": True, "dp_accountant": "pld", "dp_noise": 0.3}, "dp_accountant", "noise multiplier of at least 0.5"),
        ({"dp": True, "dp_accountant": "pld", "rounds": 1001}, "dp_accountant", "at most 1000 rounds"),
    ],
)
def test_settings_it_cannot_run_are_refused_with_a_message(settings, field, message):
    errors = refusal(**settings)
    assert any(message in text for text in errors[field]), errors


def test_settings_whose_pld_epsilon_is_not_finite_are_refused(monkeypatch):
    import apps.federated.config as config

    real = config.epsilon_spent
    monkeypatch.setattr(config, "epsilon_spent", lambda **k: float("inf") if k["accountant"] == "pld" else real(**k))
    errors = refusal(dp=True, dp_accountant="pld")
    assert errors == {"dp_accountant": ["the pld accountant finds no finite epsilon at delta 1e-05 after 30 rounds; "
                                        "use the rdp accountant"]}


def test_bulyan_at_its_bound_is_accepted():
    assert experiment_config_validate({"aggregator": "bulyan", "clients": 11, "byzantine": 2}).aggregator == "bulyan"


def test_the_malicious_set_is_in_the_database_not_on_the_chain():
    experiment = experiment_run(experiment=experiment_create(**ATTACKED))
    malicious = sorted(Client.objects.filter(experiment=experiment, malicious=True).values_list("index", flat=True))
    assert len(malicious) == 2 and malicious == sorted(federation_for(experiment.config()).malicious)
    bodies = list(Record.objects.filter(experiment_id=experiment.id).values_list("body", flat=True))
    assert not any('"malicious_clients"' in body or '"is_malicious"' in body for body in bodies)
    updates = [json.loads(body) for body in bodies if '"client_update"' in body]
    assert updates and all("malicious" not in record for record in updates)
    assert experiment_summary(experiment)["malicious_clients"] == malicious


def clean_twin(settings):
    return {**settings, "attack": "none", "malicious": 0}


def test_sign_flipping_sends_minus_k_times_the_honest_delta():
    config = experiment_config_validate({**ATTACKED, "attack_scale": 4.0})
    attacked, clean = federation_for(config), federation_for(experiment_config_validate(clean_twin(ATTACKED)))
    start = attacked.initial_params()
    bad = min(attacked.malicious)
    honest, _ = clean.client_train(start, 1, bad)
    sent, _ = attacked.client_train(start, 1, bad)
    assert np.allclose(sent, start - 4.0 * (honest - start))
    good = min(set(range(8)) - attacked.malicious)
    assert attacked.client_train(start, 1, good)[0].tobytes() == clean.client_train(start, 1, good)[0].tobytes()


@pytest.mark.parametrize("attack", ["label_flip", "noise", "scaling"])
def test_each_attack_changes_only_the_malicious_clients_updates(attack):
    config = experiment_config_validate({**ATTACKED, "attack": attack})
    attacked, clean = federation_for(config), federation_for(experiment_config_validate(clean_twin(ATTACKED)))
    start = attacked.initial_params()
    for client in range(8):
        same = attacked.client_train(start, 1, client)[0].tobytes() == clean.client_train(start, 1, client)[0].tobytes()
        assert same == (client not in attacked.malicious)


def test_a_little_is_enough_colluders_send_the_crafted_update_and_it_is_recorded():
    experiment = experiment_run(experiment=experiment_create(**{**ATTACKED, "attack": "alie"}))
    federation = federation_for(experiment.config())
    clean = federation_for(experiment_config_validate(clean_twin(ATTACKED)))
    start = federation.initial_params()
    honest = [clean.client_train(start, 1, client)[0] for client in range(8)]
    crafted = alie_update(honest, 2)
    from apps.federated.storage import blob_read

    for update in ClientUpdate.objects.filter(round__experiment=experiment, round__number=1).select_related("client"):
        sent = federation.parse(blob_read(update.update_hash))
        if update.client.malicious:
            assert np.array_equal(sent, crafted)
        else:
            assert np.array_equal(sent, honest[update.client.index])
    for number in range(3):
        assert round_audit(experiment=experiment, number=number).ok


def test_detection_rates_per_round_in_the_summary():
    experiment = experiment_run(experiment=experiment_create(
        **{**ATTACKED, "attack_scale": 30.0, "aggregator": "krum", "byzantine": 2, "krum_select": 4}
    ))
    rounds = experiment_summary(experiment)["rounds"]
    assert rounds[0]["true_positive_rate"] is None  # round 0 has no updates
    for row in rounds[1:]:
        # Krum keeps 4 of 8: both sign flippers far away are rejected, and 2 of the 6 honest updates.
        assert row["true_positive_rate"] == 1.0 and row["false_positive_rate"] == pytest.approx(2 / 6)
    fedavg = experiment_run(experiment=experiment_create(**{**ATTACKED, "seed": 1}))
    assert all(row["true_positive_rate"] == 0.0 for row in experiment_summary(fedavg)["rounds"][1:])


def test_bulyan_rounds_pass_the_audit_and_reject_the_attackers():
    experiment = experiment_run(experiment=experiment_create(
        **{**ATTACKED, "aggregator": "bulyan", "byzantine": 1, "malicious": 1, "attack_scale": 30.0}
    ))
    bad = Client.objects.get(experiment=experiment, malicious=True)
    assert not ClientUpdate.objects.filter(client=bad).filter(accepted=True).exists()
    assert ClientUpdate.objects.filter(round__experiment=experiment, accepted=True).count() == 2 * (8 - 2)
    for number in range(3):
        assert round_audit(experiment=experiment, number=number).ok


DP = {**SMALL, "rounds": 3, "dp": True, "dp_noise": 1.0, "dp_clip": 1.0, "fraction": 0.75}


def test_dp_rounds_record_epsilon_on_the_chain_and_pass_the_audit():
    experiment = experiment_run(experiment=experiment_create(**DP))
    config = experiment.config()
    for number in range(4):
        expected = epsilon_spent(sampling_rate=0.75, noise_multiplier=1.0, delta=1e-5, rounds=number)
        assert Round.objects.get(experiment=experiment, number=number).epsilon == expected
        record = json.loads(Record.objects.get(experiment_id=experiment.id, round_number=number, type="global_model").body)
        assert record["privacy"] == {"epsilon": expected, "delta": config.dp_delta}
        assert round_audit(experiment=experiment, number=number).ok
    assert experiment_summary(experiment)["final_epsilon"] > 0


def test_the_pld_accountant_s_epsilon_is_on_the_chain_tighter_than_rdp_and_passes_the_audit():
    experiment = experiment_run(experiment=experiment_create(**{**DP, "dp_accountant": "pld"}))
    for number in range(1, 4):
        pld = epsilon_spent(sampling_rate=0.75, noise_multiplier=1.0, delta=1e-5, rounds=number, accountant="pld")
        rdp = epsilon_spent(sampling_rate=0.75, noise_multiplier=1.0, delta=1e-5, rounds=number)
        assert Round.objects.get(experiment=experiment, number=number).epsilon == pld < rdp
        record = json.loads(Record.objects.get(experiment_id=experiment.id, round_number=number, type="global_model").body)
        assert record["privacy"]["epsilon"] == pld
        assert round_audit(experiment=experiment, number=number).ok
    config = json.loads(Record.objects.get(experiment_id=experiment.id, type="experiment").body)["config"]
    assert config["dp_accountant"] == "pld"  # the chain says which accountant the recorded epsilons come from


def test_the_audit_notices_a_wrong_epsilon():
    experiment = experiment_run(experiment=experiment_create(**{**DP, "rounds": 1}))
    federation = federation_for(experiment.config())
    wrong = ChainRound(number=0, parent_model=None, model="0" * 64, loss=0.0, accuracy=0.0,
                       privacy={"epsilon": 0.5, "delta": 1e-5})
    from apps.federated.audit import round_rederive

    problems = round_rederive(federation, wrong, previous_blob=None, update_blobs={}, model_blob=None)
    assert any("the accountant gives privacy" in problem for problem in problems)


def test_dp_noise_is_reproducible_from_the_seed_and_changes_with_it():
    hashes = []
    for seed in (3, 3, 4):
        experiment = experiment_run(experiment=experiment_create(**{**DP, "rounds": 2, "seed": seed}))
        hashes.append(list(Round.objects.filter(experiment=experiment).order_by("number").values_list(
            "global_model_hash", flat=True)))
    assert hashes[0] == hashes[1] and hashes[0][1:] != hashes[2][1:]


def test_a_privacy_budget_stops_the_run_before_it_is_exceeded():
    settings = {**DP, "rounds": 10, "fraction": 1.0, "max_epsilon": 12.0}
    allowed = rounds_within_budget(sampling_rate=1.0, noise_multiplier=1.0, delta=1e-5, max_epsilon=12.0, rounds=10)
    assert 0 < allowed < 10
    experiment = experiment_run(experiment=experiment_create(**settings))
    assert experiment.status == "finished"
    epsilons = list(Round.objects.filter(experiment=experiment).order_by("number").values_list("epsilon", flat=True))
    assert len(epsilons) == allowed + 1 and max(epsilons) <= 12.0
    assert experiment_summary(experiment)["rounds_to_run"] == allowed


def test_an_empty_poisson_sample_still_releases_a_noisy_round():
    experiment = experiment_run(experiment=experiment_create(**{**DP, "rounds": 4, "fraction": 0.05}))
    empty = [row for row in Round.objects.filter(experiment=experiment, number__gt=0) if row.clients_sampled == 0]
    assert empty, "with q = 0.05 and 4 clients most rounds sample nobody"
    for row in empty:
        assert row.update_set.count() == 0 and round_audit(experiment=experiment, number=row.number).ok


def test_rewards_pay_accepted_samples_and_only_when_asked():
    settings = {**ATTACKED, "aggregator": "krum", "byzantine": 2, "krum_select": 4, "attack_scale": 30.0,
                "rewards": True, "reward_per_sample": 0.5}
    experiment = experiment_run(experiment=experiment_create(**settings))
    rewards = [json.loads(body) for body in Record.objects.filter(experiment_id=experiment.id, type="reward")
               .values_list("body", flat=True)]
    accepted = ClientUpdate.objects.filter(round__experiment=experiment, accepted=True).select_related("client", "round")
    data_rewards = sorted((r["round"], r["client"], r["amount"]) for r in rewards if r["kind"] == "data")
    assert data_rewards == sorted((u.round.number, u.client.index, u.samples * 0.5) for u in accepted)
    balances = experiment_balances(experiment)
    bad = Client.objects.filter(experiment=experiment, malicious=True).first()
    assert bad.index not in [row["client"] for row in balances["clients"]]
    history = client_history(Client.objects.get(experiment=experiment, index=accepted[0].client.index))
    assert history["balance"] == sum(amount for _, client, amount in data_rewards if client == history["client"])
    assert [row["round"] for row in history["rounds"]] == [1, 2]

    from apps.core.keys import node_id

    mining = sorted((r["round"], r["client"], r["amount"]) for r in rewards if r["kind"] == "mining")
    assert mining == [(number, node_id(), 50.0) for number in range(3)]
    assert balances["miners"] == [{"node": node_id(), "balance": 150.0}]
    assert balances["total"] == 150.0 + sum(amount for *_, amount in data_rewards)

    plain = experiment_run(experiment=experiment_create(**{**settings, "rewards": False}))
    assert not Record.objects.filter(experiment_id=plain.id, type="reward").exists()


def test_each_dp_round_draws_fresh_noise():
    federation = federation_for(experiment_config_validate(DP))
    start = federation.initial_params()
    first, second = (federation.aggregate(start, [], [], number).params for number in (1, 2))
    assert first.tobytes() == federation.aggregate(start, [], [], 1).params.tobytes()
    assert not np.allclose(first, second)
