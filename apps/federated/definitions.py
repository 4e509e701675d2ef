"""What each experiment setting is called, what it means, what values it takes and when it applies: one place for
the web form (its sections, labels, help beside each field, fields shown only where they apply), `run_experiment
--help`, the validation (config.py, whose messages every entry point shows) and the API's description of the
settings (its OpenAPI schema is generated from `accepts`).

`accepts` is the setting's own rule (a range, a list of choices, a switch); rules that involve several settings
stay in config.py. `applies_when` names the other settings a setting depends on, with the values for which it
means something; a setting that does not apply is ignored by the form (and hidden there), whatever was typed in it.
"""

from dataclasses import dataclass, field

from .aggregation import AGGREGATORS
from .attacks import ATTACKS
from .datasets import DATASETS, SYNTHETIC_MAX_SAMPLES, SYNTHETIC_MIN_SAMPLES
from .nn import MODELS
from .partition import PARTITIONS
from .privacy import ACCOUNTANTS, PLD_MAX_ROUNDS, PLD_MIN_NOISE

# An experiment's name, a label for people.
NAME_LENGTH = 200
MAX_CLIENTS = 10_000
MAX_ROUNDS = 10_000
MAX_HIDDEN_LAYERS = 4
MAX_HIDDEN_UNITS = 4096
# The seed is recorded on the chain, whose canonical JSON holds integers up to 2**53 exactly.
MAX_SEED = 2**53 - 1
# Each bit doubles the expected mining work: 24 bits is about 16 million hashes per block, seconds to minutes
# in Python. The chain never mines easier than its pow limit, whatever an experiment declares.
MAX_DIFFICULTY_BITS = 24


@dataclass(frozen=True)
class Whole:
    """A whole number in [low, high]."""

    low: int
    high: int

    def json_schema(self):
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class Real:
    """A finite number between low and high, each end open or closed; `optional`: null (None) is a value too."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    optional: bool = False

    def describe(self):
        return f"{'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"

    def json_schema(self):
        schema = {
            "type": ["number", "null"] if self.optional else "number",
            "exclusiveMinimum" if self.low_open else "minimum": self.low,
            "exclusiveMaximum" if self.high_open else "maximum": self.high,
        }
        return schema


@dataclass(frozen=True)
class OneOf:
    options: tuple

    def json_schema(self):
        return {"type": "string", "enum": list(self.options)}


@dataclass(frozen=True)
class Switch:
    def json_schema(self):
        return {"type": "boolean"}


@dataclass(frozen=True)
class Widths:
    """Layer widths: 1 to `layers` whole numbers, each in [1, units]; none at all means the default."""

    layers: int
    units: int

    def json_schema(self):
        return {"type": "array", "maxItems": self.layers,
                "items": {"type": "integer", "minimum": 1, "maximum": self.units}}


@dataclass(frozen=True)
class Definition:
    name: str
    label: str
    help: str
    section: str
    accepts: object  # Whole, Real, OneOf, Switch or Widths
    applies_when: dict = field(default_factory=dict)  # {setting: (values it applies with)}

    def applies(self, values):
        """Whether the setting means something with these settings (a mapping of raw or clean values)."""
        return all(str(values.get(name)) in {str(v) for v in allowed} for name, allowed in self.applies_when.items())


EXPERIMENT = "Experiment"
DATA = "Data and clients"
TRAINING = "Model and local training"
AGGREGATION = "Aggregation"
ADVERSARIES = "Attacks, privacy and rewards"
CHAIN = "Chain and comparison"
SECTIONS = (EXPERIMENT, DATA, TRAINING, AGGREGATION, ADVERSARIES, CHAIN)

_KRUM_LIKE = ("krum", "bulyan")
_ATTACKED = ("label_flip", "sign_flip", "noise", "scaling", "alie")

_DEFINITIONS = (
    Definition("seed", "Seed", "seed of every random choice (data split, sampling, initial model): the same settings "
               "and seed give the same model hashes", EXPERIMENT, Whole(0, MAX_SEED)),
    Definition("rounds", "Rounds", "training rounds after the initial model (round 0)", EXPERIMENT, Whole(1, MAX_ROUNDS)),
    Definition("dataset", "Data set", "digits, breast_cancer, iris, wine (scikit-learn's, shipped with it) or "
               "synthetic", DATA, OneOf(DATASETS)),
    Definition("synthetic_samples", "Synthetic samples", "size of the synthetic data set", DATA, Whole(SYNTHETIC_MIN_SAMPLES, SYNTHETIC_MAX_SAMPLES),
               {"dataset": ("synthetic",)}),
    Definition("clients", "Clients", "number of clients, each with its own shard of the training data", DATA, Whole(1, MAX_CLIENTS)),
    Definition("partition", "Partition", "how the data is split: iid (shuffled evenly), dirichlet (label skew), "
               "shards (a few classes per client) or quantity (skewed shard sizes)", DATA, OneOf(PARTITIONS)),
    Definition("alpha", "Alpha (α)", "Dirichlet concentration: small (0.1) = very skewed, large (100) = nearly IID",
               DATA, Real(0, 1e6, low_open=True), {"partition": ("dirichlet", "quantity")}),
    Definition("classes_per_client", "Classes per client", "classes each client holds with shards", DATA, Whole(1, 1000),
               {"partition": ("shards",)}),
    Definition("model", "Model", "softmax (multinomial logistic regression) or mlp (a small neural network)",
               TRAINING, OneOf(MODELS)),
    Definition("hidden", "Hidden layers", "mlp hidden layer widths, comma-separated, e.g. 64,32 (empty: 32)",
               TRAINING, Widths(MAX_HIDDEN_LAYERS, MAX_HIDDEN_UNITS), {"model": ("mlp",)}),
    Definition("local_epochs", "Local epochs", "passes over its own shard each client makes per round", TRAINING, Whole(1, 1000)),
    Definition("batch_size", "Batch size", "local minibatch size", TRAINING, Whole(1, 100_000)),
    Definition("lr", "Learning rate", "local SGD step size", TRAINING, Real(0, 100, low_open=True)),
    Definition("mu", "FedProx μ", "FedProx proximal term pulling local training towards the global model "
               "(0 = plain FedAvg training)", TRAINING, Real(0, 1e6)),
    Definition("aggregator", "Aggregator", "fedavg (weighted mean), median, trimmed_mean, krum or bulyan "
               "(robust to faulty updates)", AGGREGATION, OneOf(AGGREGATORS)),
    Definition("trim_ratio", "Trim ratio", "share of the updates trimmed at each end, per coordinate",
               AGGREGATION, Real(0, 0.5, high_open=True), {"aggregator": ("trimmed_mean",)}),
    Definition("byzantine", "Faulty clients tolerated (f)", "faulty updates Krum or Bulyan tolerates per round; "
               "Krum needs at least 2f + 3 clients per round, Bulyan 4f + 3", AGGREGATION, Whole(0, MAX_CLIENTS),
               {"aggregator": _KRUM_LIKE}),
    Definition("krum_select", "Updates Krum keeps", "1 = Krum, more = Multi-Krum", AGGREGATION, Whole(1, MAX_CLIENTS),
               {"aggregator": ("krum",)}),
    Definition("fraction", "Fraction sampled", "share of the clients sampled each round (0 to 1]", AGGREGATION, Real(0, 1, low_open=True)),
    Definition("min_clients", "Minimum clients", "fewest clients sampled per round, whatever the fraction",
               AGGREGATION, Whole(1, MAX_CLIENTS)),
    Definition("attack", "Attack", "what the malicious clients do: none, label_flip, sign_flip, noise, scaling or "
               "alie", ADVERSARIES, OneOf(ATTACKS)),
    Definition("malicious", "Malicious clients", "how many clients are malicious", ADVERSARIES, Whole(0, MAX_CLIENTS),
               {"attack": _ATTACKED}),
    Definition("malicious_fraction", "Malicious fraction", "share of the clients that are malicious (instead of a "
               "count)", ADVERSARIES, Real(0, 1), {"attack": _ATTACKED}),
    Definition("attack_scale", "Attack scale", "sign_flip: k in -k × delta; scaling: the boost; noise: the "
               "standard deviation", ADVERSARIES, Real(0, 1e6), {"attack": ("sign_flip", "scaling", "noise")}),
    Definition("dp", "Differential privacy", "client-level DP (DP-FedAvg); epsilon per round on the chain",
               ADVERSARIES, Switch()),
    Definition("dp_clip", "DP clip norm", "L2 norm each update's delta is clipped to", ADVERSARIES, Real(0, 1e6, low_open=True),
               {"dp": (True,)}),
    Definition("dp_noise", "DP noise multiplier", "noise standard deviation over the clip norm", ADVERSARIES, Real(0, 1e6, low_open=True),
               {"dp": (True,)}),
    Definition("dp_delta", "DP delta", "the delta epsilon is reported at", ADVERSARIES, Real(0, 0.1, low_open=True), {"dp": (True,)}),
    Definition("dp_accountant", "Privacy accountant", "how epsilon is computed (dp-accounting): rdp (Rényi DP, "
               "fast, looser) or pld (privacy loss distributions, tighter; needs a noise multiplier of at least "
               f"{PLD_MIN_NOISE} and at most {PLD_MAX_ROUNDS} rounds)", ADVERSARIES, OneOf(ACCOUNTANTS), {"dp": (True,)}),
    Definition("max_epsilon", "Privacy budget (ε)", "the run stops before a round would exceed it; empty = no "
               "budget", ADVERSARIES, Real(0, 1e6, low_open=True, optional=True), {"dp": (True,)}),
    Definition("rewards", "Rewards", "record data and mining rewards on the chain", ADVERSARIES, Switch()),
    Definition("reward_per_sample", "Reward per sample", "paid per sample of an accepted update", ADVERSARIES, Real(0, 1e6),
               {"rewards": (True,)}),
    Definition("mining_reward", "Mining reward", "paid per mined block, to its miner", ADVERSARIES, Real(0, 1e9),
               {"rewards": (True,)}),
    Definition("difficulty_bits", "Difficulty (bits)", "the least proof of work per block, in bits: about 2^bits "
               "hashes each (12: ~4,000; 20: ~1 million); the chain may ask for more", CHAIN, Whole(0, MAX_DIFFICULTY_BITS)),
    Definition("baseline", "Centralized baseline", "also train one model on all the data, to compare with", CHAIN, Switch()),
)


_JSON_TYPES = {
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "null": lambda value: value is None,
}


def json_type_refusals(values):
    """{setting: [message]} for the settings of a JSON object whose value is not of the JSON type its schema
    gives (the API's strictness; the form and the command line give text, which config.py parses)."""
    refusals = {}
    for setting in _DEFINITIONS:
        if setting.name not in values:
            continue
        kinds = setting.accepts.json_schema()["type"]
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_JSON_TYPES[kind](values[setting.name]) for kind in kinds):
            refusals[setting.name] = [f"must be a JSON {' or '.join(kinds)}"]
    return refusals


def definitions(setting_names):
    """The definitions of these settings (the experiment's own, config.SETTING_NAMES), in form order."""
    names = set(setting_names)
    return [definition for definition in _DEFINITIONS if definition.name in names]


def definition(name):
    return next(d for d in _DEFINITIONS if d.name == name)


def applicable(setting_names, values):
    """The names among setting_names that apply with these values."""
    return [d.name for d in definitions(setting_names) if d.applies(values)]
