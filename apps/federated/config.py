"""An experiment's settings and their validation: the one place that decides what is a valid experiment.

The admin, the `run_experiment` command, the dashboard's form and the API all go through
`experiment_config_validate`, which returns a frozen `ExperimentConfig` or raises `ConfigError` with a plain
message per setting.
"""

import math
from dataclasses import asdict, dataclass, fields

from .aggregation import tolerance_error
from .attacks import ATTACKS, malicious_count
from .budget import data_shape, parameter_count, storable_refusals
from .datasets import SYNTHETIC_DEFAULT_SAMPLES, dataset_min_train_size, dataset_n_classes
from .definitions import OneOf, Switch, Whole, Widths, definitions
from .privacy import epsilon_spent, pld_refusal, rounds_within_budget
from .sampling import clients_per_round

DEFAULT_HIDDEN = (32,)


@dataclass(frozen=True)
class ExperimentConfig:
    dataset: str = "digits"
    synthetic_samples: int = SYNTHETIC_DEFAULT_SAMPLES
    clients: int = 10
    rounds: int = 30
    partition: str = "iid"
    alpha: float = 0.5
    classes_per_client: int = 2
    model: str = "softmax"
    hidden: tuple[int, ...] = ()
    aggregator: str = "fedavg"
    trim_ratio: float = 0.1
    byzantine: int = 0
    krum_select: int = 1
    fraction: float = 1.0
    min_clients: int = 1
    local_epochs: int = 1
    batch_size: int = 10
    lr: float = 0.1
    mu: float = 0.0
    difficulty_bits: int = 12
    seed: int = 0
    baseline: bool = True
    # Byzantine clients (attacks.py): which attack, and how many clients run it (a count or a fraction).
    attack: str = "none"
    malicious: int = 0
    malicious_fraction: float = 0.0
    attack_scale: float = 10.0
    # Client-level differential privacy (privacy.py): DP-FedAvg and its accountant.
    dp: bool = False
    dp_clip: float = 1.0
    dp_noise: float = 1.0
    dp_delta: float = 1e-5
    dp_accountant: str = "rdp"
    max_epsilon: float | None = None
    # Rewards on the chain: per sample of each accepted update, and per mined block to its miner.
    rewards: bool = False
    reward_per_sample: float = 1.0
    mining_reward: float = 50.0

    def as_dict(self):
        """JSON-ready settings (the experiment's record on the chain carries them)."""
        values = asdict(self)
        values["hidden"] = list(self.hidden)
        return values

    @property
    def clients_per_round(self):
        """Clients per round (under DP, the expected number: each client takes part with probability
        `fraction`)."""
        if self.dp:
            return self.fraction * self.clients
        return clients_per_round(self.clients, fraction=self.fraction, minimum=self.min_clients)

    @property
    def privacy(self):
        """The accountant's view of a round under DP (privacy.epsilon_spent's keyword arguments but rounds)."""
        return {"sampling_rate": self.fraction, "noise_multiplier": self.dp_noise, "delta": self.dp_delta,
                "accountant": self.dp_accountant}

    @property
    def rounds_to_run(self):
        """The rounds the experiment runs: all of them, or under a privacy budget the most whose epsilon stays
        within `max_epsilon`."""
        if not self.dp or self.max_epsilon is None:
            return self.rounds
        return rounds_within_budget(**self.privacy, max_epsilon=self.max_epsilon, rounds=self.rounds)

    @property
    def malicious_clients(self):
        """How many clients are malicious."""
        return malicious_count(self.clients, malicious=self.malicious, fraction=self.malicious_fraction)


SETTING_NAMES = tuple(f.name for f in fields(ExperimentConfig))


class ConfigError(ValueError):
    def __init__(self, errors):
        self.errors = errors  # {setting: [message, ...]}
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))


def experiment_config_validate(values):
    """ExperimentConfig from a mapping of settings (missing ones take defaults), or ConfigError."""
    errors = {}

    def fail(name, message):
        errors.setdefault(name, []).append(message)

    unknown = sorted(set(values) - set(SETTING_NAMES))
    for name in unknown:
        fail(name, f"unknown setting; the settings are {', '.join(SETTING_NAMES)}")
    defaults = ExperimentConfig()
    clean = {}
    for name in SETTING_NAMES:
        value = values.get(name)
        clean[name] = getattr(defaults, name) if value is None or value == "" else value
    for setting in definitions(SETTING_NAMES):
        if isinstance(setting.accepts, Widths):
            clean[setting.name] = _hidden_layers(clean, values.get(setting.name), setting.accepts, fail)
            continue
        problem, clean[setting.name] = _check(setting.accepts, clean[setting.name])
        if problem:
            fail(setting.name, problem)
    if not errors:
        _check_combination(clean, fail)
    if errors:
        raise ConfigError(errors)
    return ExperimentConfig(**clean)


def _check(rule, value):
    """(message or None, the value made clean) for one setting's own rule (definitions.py)."""
    if isinstance(rule, OneOf):
        return (None if value in rule.options else f"{value!r} is not one of {', '.join(rule.options)}"), value
    if isinstance(rule, Switch):
        return (None if isinstance(value, bool) else "must be true or false"), value
    if isinstance(rule, Whole):
        number = None if not isinstance(value, (int, str)) else _whole_number(value)
        if number is None:
            return "must be a whole number", value
        return (None if rule.low <= number <= rule.high else f"must be between {rule.low} and {rule.high}"), number
    if rule.optional and value is None:
        return None, None
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None:
        return "must be a number", value
    too_low = number <= rule.low if rule.low_open else number < rule.low
    too_high = number >= rule.high if rule.high_open else number > rule.high
    if not math.isfinite(number) or too_low or too_high:
        return f"must be in {rule.describe()}", number
    return None, number


def _whole_number(value):
    """An int from an int or a string of ASCII digits (no float, bool, or other script's digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 20:
            return int(text)
    return None


def _hidden_layers(clean, given, rule, fail):
    if clean["model"] != "mlp":
        if given not in (None, "", (), []):
            fail("hidden", "hidden layers belong to the mlp model only")
        return ()
    if given in (None, "", (), []):
        return DEFAULT_HIDDEN
    if isinstance(given, str):
        parts = [part.strip() for part in given.split(",")]
    elif isinstance(given, (list, tuple)):
        parts = list(given)
    else:
        fail("hidden", "give the hidden layer widths as a list or as comma-separated numbers, e.g. 64,32")
        return ()
    widths = tuple(_whole_number(part) for part in parts if part != "")
    if None in widths:
        fail("hidden", "give the hidden layer widths as comma-separated whole numbers, e.g. 64,32")
        return ()
    if len(widths) != len(parts) or not 1 <= len(widths) <= rule.layers:
        fail("hidden", f"give 1 to {rule.layers} hidden layer widths, e.g. 64,32")
    elif any(not 1 <= width <= rule.units for width in widths):
        fail("hidden", f"each hidden layer has between 1 and {rule.units} units")
    return widths


def _check_combination(clean, fail):
    """Rules that involve several settings; only run when each setting is valid on its own."""
    _check_attack(clean, fail)
    _check_privacy(clean, fail)
    train_size = dataset_min_train_size(clean["dataset"], synthetic_samples=clean["synthetic_samples"])
    if clean["clients"] > train_size:
        fail("clients", f"{clean['clients']} clients cannot each get a sample: {clean['dataset']} has {train_size} "
             "training samples")
    shape = data_shape(clean["dataset"], clean["synthetic_samples"])
    for name, messages in storable_refusals(parameter_count(shape.n_features, shape.n_classes, clean["hidden"])).items():
        for message in messages:
            fail(name, message)
    if clean["min_clients"] > clean["clients"]:
        fail("min_clients", f"cannot exceed the number of clients ({clean['clients']})")
    n_classes = dataset_n_classes(clean["dataset"])
    if clean["partition"] == "shards" and clean["classes_per_client"] > n_classes:
        fail("classes_per_client", f"{clean['dataset']} has only {n_classes} classes")
    per_round = clients_per_round(clean["clients"], fraction=clean["fraction"], minimum=clean["min_clients"])
    if clean["aggregator"] in ("krum", "bulyan"):
        problem = tolerance_error(clean["aggregator"], clients=per_round, byzantine=clean["byzantine"])
        if problem:
            fail("byzantine", problem.replace("this round has", "this experiment samples"))
    if clean["aggregator"] == "krum":
        if clean["krum_select"] > per_round - clean["byzantine"]:
            fail("krum_select", f"Multi-Krum can select at most {per_round - clean['byzantine']} updates "
                 f"({per_round} per round minus {clean['byzantine']} faulty)")


def _check_attack(clean, fail):
    if clean["malicious"] and clean["malicious_fraction"]:
        fail("malicious", "give the malicious clients as a count or as a fraction, not both")
        return
    count = malicious_count(clean["clients"], malicious=clean["malicious"], fraction=clean["malicious_fraction"])
    if count > clean["clients"]:
        fail("malicious", f"cannot exceed the number of clients ({clean['clients']})")
    if clean["attack"] == "none" and count:
        fail("attack", f"{count} malicious clients need an attack: choose one of {', '.join(ATTACKS[1:])}")
    if clean["attack"] != "none" and not count:
        fail("malicious", f"the {clean['attack']} attack needs at least one malicious client (a count or a fraction)")


def _check_privacy(clean, fail):
    if not clean["dp"]:
        if clean["max_epsilon"] is not None:
            fail("max_epsilon", "a privacy budget needs differential privacy (dp) on")
        return
    if clean["aggregator"] != "fedavg":
        fail("aggregator", "differential privacy runs DP-FedAvg: its noise is calibrated to the clipped mean, so "
             "the aggregator must be fedavg")
    if clean["min_clients"] != 1:
        fail("min_clients", "under differential privacy each client takes part with probability `fraction` "
             "(Poisson sampling, which the accountant assumes); there is no minimum")
    if clean["dp_accountant"] == "pld":
        problem = pld_refusal(noise_multiplier=clean["dp_noise"], rounds=clean["rounds"])
        if problem:
            fail("dp_accountant", problem)
            return
        final = epsilon_spent(sampling_rate=clean["fraction"], noise_multiplier=clean["dp_noise"],
                              delta=clean["dp_delta"], rounds=clean["rounds"], accountant="pld")
        if not math.isfinite(final):
            fail("dp_accountant", f"the pld accountant finds no finite epsilon at delta {clean['dp_delta']:g} after "
                 f"{clean['rounds']} rounds; use the rdp accountant")
            return
    if clean["max_epsilon"] is not None:
        privacy = {"sampling_rate": clean["fraction"], "noise_multiplier": clean["dp_noise"], "delta": clean["dp_delta"],
                   "accountant": clean["dp_accountant"]}
        if not rounds_within_budget(**privacy, max_epsilon=clean["max_epsilon"], rounds=1):
            fail("max_epsilon", f"one round already spends epsilon {epsilon_spent(**privacy, rounds=1):.4g} at delta "
                 f"{clean['dp_delta']:g}, more than {clean['max_epsilon']:g}")
