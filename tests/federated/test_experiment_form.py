import pytest

from apps.federated.forms import ExperimentForm

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {
        "name": "demo", "dataset": "digits", "synthetic_samples": 4000, "clients": 10, "rounds": 5,
        "partition": "iid", "alpha": 0.5, "classes_per_client": 2, "model": "softmax", "hidden": "",
        "aggregator": "fedavg", "trim_ratio": 0.1, "byzantine": 0, "krum_select": 1, "fraction": 1.0,
        "min_clients": 1, "local_epochs": 1, "batch_size": 10, "lr": 0.1, "mu": 0.0, "difficulty_bits": 8,
        "seed": 0, "baseline": "on", "attack": "none", "malicious": 0, "malicious_fraction": 0.0,
        "attack_scale": 10.0, "dp_clip": 1.0, "dp_noise": 1.0, "dp_delta": 1e-5, "max_epsilon": "",
        "reward_per_sample": 1.0, "mining_reward": 50.0,
    }
    data.update(overrides)
    return data


def test_valid_form_gives_normalized_settings():
    form = ExperimentForm(data=form_data(model="mlp", hidden="64, 32"))
    assert form.is_valid(), form.errors
    settings = form.experiment_settings()
    assert settings["hidden"] == [64, 32] and settings["name"] == "demo" and settings["baseline"] is True


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"clients": 5000}, "clients", "5000 clients cannot each get a sample"),
        ({"model": "mlp", "hidden": "64,abc"}, "hidden", "comma-separated whole numbers"),
        # (hidden layers with the softmax model do not apply: the form ignores them, see test_pages)
        ({"partition": "dirichlet", "alpha": "-3"}, "alpha", "must be in (0, 1000000.0]"),
        ({"clients": "-1"}, "clients", "must be between 1 and 10000"),
        ({"aggregator": "krum", "byzantine": 4}, "byzantine", "needs at least 11 clients per round"),
        ({"lr": "0"}, "lr", "must be in (0, 100]"),
        ({"fraction": "2"}, "fraction", "must be in (0, 1]"),
    ],
)
def test_the_form_shows_the_validators_messages_on_the_fields(overrides, field, message):
    form = ExperimentForm(data=form_data(**overrides))
    assert not form.is_valid()
    assert any(message in error for error in form.errors[field]), form.errors


def test_the_form_offers_the_pld_accountant_and_refuses_it_where_it_would_not_be_bounded():
    form = ExperimentForm(data=form_data(dp="on", dp_accountant="pld"))
    assert form.is_valid(), form.errors
    assert form.experiment_settings()["dp_accountant"] == "pld"
    refused = ExperimentForm(data=form_data(dp="on", dp_accountant="pld", dp_noise=0.3))
    assert not refused.is_valid()
    assert "noise multiplier of at least 0.5" in " ".join(refused.errors["dp_accountant"])
