"""The work budget: an experiment's estimated cost, and the limits it is checked against."""

import dataclasses

import pytest

from apps.federated.blobs import MAX_ELEMENTS
from apps.federated.budget import (
    DEFAULT_LIMITS,
    Committed,
    budget_refusals,
    core_time,
    data_shape,
    experiment_cost,
    parameter_count,
    size,
)
from apps.federated.config import ConfigError, experiment_config_validate
from apps.federated.engine import federation_for

# The largest experiment the settings' individual bounds allow, but for a model the blob format can hold.
LARGEST = dict(dataset="synthetic", synthetic_samples=500_000, clients=10_000, rounds=10_000, model="mlp",
               hidden=[4096, 4096, 2900], local_epochs=1000, batch_size=1, difficulty_bits=24)


def cost_of(**settings):
    return experiment_cost(experiment_config_validate(settings))


def test_parameters_and_blob_bytes_are_those_of_the_real_model():
    for settings in ({}, {"dataset": "wine", "model": "mlp", "hidden": [16, 8]},
                     {"dataset": "synthetic", "synthetic_samples": 1000, "model": "mlp", "hidden": [64]}):
        config = experiment_config_validate(settings)
        federation = federation_for(config)
        cost = experiment_cost(config)
        assert cost.parameters == federation.spec.size
        blob = federation.serialize(federation.initial_params())
        assert len(blob) <= cost.blob_bytes < len(blob) + 600


def test_the_synthetic_shape_is_known_without_building_the_data():
    config = experiment_config_validate({"dataset": "synthetic", "synthetic_samples": 4000})
    data = federation_for(config).dataset
    shape = data_shape("synthetic", 4000)
    assert (shape.n_features, shape.n_classes) == (data.n_features, data.n_classes)
    assert abs(shape.train_size - len(data.y_train)) <= 10 and abs(shape.test_size - len(data.y_test)) <= 10


def test_a_model_the_blob_format_cannot_hold_is_not_a_valid_experiment():
    with pytest.raises(ConfigError) as refused:
        experiment_config_validate({**LARGEST, "hidden": [4096] * 4})
    assert "a model blob holds at most 50,000,000" in refused.value.errors["hidden"][0]
    widths = [4096, 4096, 2900]
    assert parameter_count(32, 10, widths) <= MAX_ELEMENTS
    experiment_config_validate(LARGEST)  # the largest that fits is valid: the budget has to refuse it


def test_the_largest_accepted_settings_are_refused_by_the_budget_on_every_count():
    refusals = budget_refusals(cost_of(**LARGEST), limits=DEFAULT_LIMITS)
    text = " ".join(refusals["budget"])
    assert "core-years of computing" in text
    assert "TB of models and records" in text
    assert "of memory" in text


def test_the_default_experiment_and_the_suites_big_ones_fit_the_default_limits():
    for settings in ({}, dict(dataset="synthetic", synthetic_samples=40_000, clients=10, rounds=10_000, model="mlp",
                              hidden=[64], local_epochs=2, difficulty_bits=16, baseline=False),
                     dict(dataset="synthetic", synthetic_samples=100_000, clients=50, model="mlp", hidden=[128],
                          local_epochs=10, batch_size=10, difficulty_bits=12, baseline=False)):
        assert budget_refusals(cost_of(**settings), limits=DEFAULT_LIMITS, user=Committed()) == {}


def test_cost_grows_with_what_makes_work():
    base = cost_of(dataset="synthetic", synthetic_samples=4000, clients=20, rounds=10, model="mlp", hidden=[32])
    for more in (dict(rounds=20), dict(local_epochs=3), dict(hidden=[128]), dict(batch_size=1),
                 dict(difficulty_bits=20), dict(aggregator="krum", clients=200)):
        bigger = cost_of(**{**dict(dataset="synthetic", synthetic_samples=4000, clients=20, rounds=10, model="mlp",
                                   hidden=[32]), **more})
        assert bigger.core_seconds > base.core_seconds, more
    assert cost_of(rounds=20).stored_bytes > cost_of(rounds=10).stored_bytes
    assert cost_of(difficulty_bits=20).mining_seconds == pytest.approx(256 * cost_of(difficulty_bits=12).mining_seconds)


def test_each_limit_refuses_with_a_message_naming_it():
    cost = cost_of(rounds=100)
    tight = dataclasses.replace
    assert "one experiment may use" in budget_refusals(cost, limits=tight(DEFAULT_LIMITS, core_seconds=0.01))["budget"][0]
    assert "may store" in budget_refusals(cost, limits=tight(DEFAULT_LIMITS, stored_bytes=1000))["budget"][0]
    assert "a job may use" in budget_refusals(cost, limits=tight(DEFAULT_LIMITS, job_memory_bytes=1000))["budget"][0]
    busy = Committed(core_seconds=DEFAULT_LIMITS.user_core_seconds, stored_bytes=0, experiments=1)
    assert "your unfinished experiments" in budget_refusals(cost, limits=DEFAULT_LIMITS, user=busy)["user"][0]
    many = Committed(experiments=DEFAULT_LIMITS.user_experiments)
    assert "unfinished experiments, the most" in budget_refusals(cost, limits=DEFAULT_LIMITS, user=many)["user"][0]
    # No user (an operator's command): no per-user limit.
    assert budget_refusals(cost, limits=DEFAULT_LIMITS, user=None) == {}
    site = Committed(core_seconds=DEFAULT_LIMITS.site_core_seconds, experiments=3)
    assert "3 other unfinished" in budget_refusals(cost, limits=DEFAULT_LIMITS, site=site)["site"][0]
    full = Committed(stored_bytes=DEFAULT_LIMITS.site_stored_bytes, experiments=2)
    assert "may store" in budget_refusals(cost, limits=DEFAULT_LIMITS, site=full)["site"][0]


def test_what_is_left_of_an_experiment_is_its_share_of_the_rounds():
    cost = cost_of(rounds=100)
    half = cost.share(0.5)
    assert half.core_seconds == pytest.approx(cost.core_seconds / 2)
    assert half.parameters == cost.parameters and half.job_memory_bytes == cost.job_memory_bytes
    assert Committed().add(half).add(half).core_seconds == pytest.approx(cost.core_seconds)


def test_amounts_read_plainly():
    assert core_time(30) == "30.0 core-seconds"
    assert core_time(7200) == "2.0 core-hours"
    assert core_time(3 * 365 * 86400) == "3.0 core-years"
    assert size(404_161_176) == "404.2 MB"
    assert size(12) == "12 bytes"



# --- the budget where experiments are created ---------------------------------------------------------------


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("researcher")


@pytest.mark.django_db
def test_creation_refuses_an_experiment_over_its_own_limit_and_creates_nothing(settings, owner):
    from django.core.exceptions import ValidationError

    from apps.federated.models import Experiment
    from apps.federated.services import experiment_create

    settings.FEDCHAIN_BUDGET_CORE_SECONDS = 1
    with pytest.raises(ValidationError) as refused:
        experiment_create(owner=owner, rounds=10_000)
    assert "one experiment may use 1.0 core-seconds" in refused.value.message_dict["budget"][0]
    assert not Experiment.objects.exists()
    assert experiment_create(owner=owner, rounds=1).owner == owner


@pytest.mark.django_db
def test_a_users_unfinished_experiments_count_until_they_end(settings, owner, django_user_model):
    from django.core.exceptions import ValidationError

    from apps.federated.lifecycle import experiment_cancel
    from apps.federated.services import experiment_create

    settings.FEDCHAIN_BUDGET_USER_EXPERIMENTS = 2
    first, _ = experiment_create(owner=owner), experiment_create(owner=owner)
    with pytest.raises(ValidationError) as refused:
        experiment_create(owner=owner)
    assert "you have 2 unfinished experiments" in refused.value.message_dict["user"][0]
    experiment_create(owner=django_user_model.objects.create_user("someone else"))  # a budget of their own
    experiment_create()  # a command's experiment has no owner: only the installation's limits
    experiment_cancel(experiment=first)
    experiment_create(owner=owner)


@pytest.mark.django_db
def test_the_installation_limit_counts_what_every_unfinished_experiment_has_left(settings, owner):
    from django.core.exceptions import ValidationError

    from apps.federated.selectors import budget_committed, experiment_config_cost
    from apps.federated.services import experiment_create

    experiment = experiment_create(rounds=200, difficulty_bits=20)
    cost = experiment_config_cost(experiment.config())
    assert budget_committed().core_seconds == pytest.approx(cost.core_seconds)
    settings.FEDCHAIN_BUDGET_SITE_CORE_SECONDS = int(cost.core_seconds * 1.5)
    with pytest.raises(ValidationError) as refused:
        experiment_create(owner=owner, rounds=200, difficulty_bits=20)
    assert "the installation's 1 other unfinished experiments" in refused.value.message_dict["site"][0]
