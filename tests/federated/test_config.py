import pytest

from apps.federated.config import ConfigError, ExperimentConfig, experiment_config_validate


def errors_of(**values):
    with pytest.raises(ConfigError) as caught:
        experiment_config_validate(values)
    return caught.value.errors


def test_defaults_and_string_values_from_forms_are_accepted():
    assert experiment_config_validate({}) == ExperimentConfig()
    config = experiment_config_validate(
        {"clients": "20", "lr": "0.05", "fraction": "0.3", "model": "mlp", "hidden": "64, 32", "seed": "7"}
    )
    assert (config.clients, config.lr, config.fraction, config.hidden, config.seed) == (20, 0.05, 0.3, (64, 32), 7)
    assert experiment_config_validate({"model": "mlp"}).hidden == (32,)
    assert experiment_config_validate({"model": "mlp", "hidden": [16]}).as_dict()["hidden"] == [16]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"dataset": "mnist"}, "dataset", "'mnist' is not one of digits"),
        ({"clients": 0}, "clients", "between 1 and"),
        ({"clients": "ten"}, "clients", "whole number"),
        ({"clients": 2.5}, "clients", "whole number"),
        ({"clients": True}, "clients", "whole number"),
        ({"rounds": -1}, "rounds", "between 1 and"),
        ({"lr": 0}, "lr", "must be in (0, 100]"),
        ({"lr": "nan"}, "lr", "must be in"),
        ({"lr": "fast"}, "lr", "must be a number"),
        ({"fraction": 1.5}, "fraction", "must be in (0, 1]"),
        ({"alpha": -1}, "alpha", "must be in (0"),
        ({"trim_ratio": 0.5}, "trim_ratio", "must be in [0, 0.5)"),
        ({"mu": -0.1}, "mu", "must be in [0"),
        ({"difficulty_bits": 25}, "difficulty_bits", "between 0 and 24"),
        ({"seed": -3}, "seed", "between 0 and"),
        ({"baseline": "maybe"}, "baseline", "true or false"),
        ({"partition": "zipf"}, "partition", "not one of iid, dirichlet, shards, quantity"),
        ({"aggregator": "mean"}, "aggregator", "not one of fedavg, median, trimmed_mean, krum"),
        ({"model": "cnn"}, "model", "not one of softmax, mlp"),
        ({"hidden": "32"}, "hidden", "mlp model only"),
        ({"model": "mlp", "hidden": "32,x"}, "hidden", "comma-separated whole numbers"),
        ({"model": "mlp", "hidden": "0"}, "hidden", "between 1 and"),
        ({"model": "mlp", "hidden": "8,8,8,8,8"}, "hidden", "1 to 4 hidden layer widths"),
        ({"colour": "red"}, "colour", "unknown setting"),
        ({"dataset": "iris", "clients": 500}, "clients", "iris has 114 training samples"),
        ({"clients": 5, "min_clients": 6}, "min_clients", "cannot exceed the number of clients (5)"),
        ({"partition": "shards", "dataset": "iris", "classes_per_client": 4}, "classes_per_client", "only 3 classes"),
        ({"aggregator": "krum", "clients": 10, "fraction": 0.3, "byzantine": 1}, "byzantine", "needs at least 5"),
        ({"aggregator": "krum", "clients": 10, "byzantine": 2, "krum_select": 9}, "krum_select", "at most 8"),
    ],
)
def test_each_bad_setting_gets_a_plain_message_on_its_field(values, field, message):
    errors = errors_of(**values)
    assert field in errors
    assert any(message in text for text in errors[field]), errors


def test_all_errors_are_reported_together():
    errors = errors_of(clients=0, lr=-1, dataset="nope")
    assert set(errors) == {"clients", "lr", "dataset"}
    assert "clients: must be between" in str(ConfigError(errors))
