"""What each experiment setting is called, what it means, and when it applies: one place for the web form (its
sections, labels, help beside each field, fields shown only where they apply), `run_experiment --help` and the
API's description of the settings.

Bounds and choices stay with the validation (config.py), whose messages every entry point shows.
`applies_when` names the other settings a setting depends on, with the values for which it means something; a
setting that does not apply is ignored by the form (and hidden there), whatever was typed in it.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Definition:
    name: str
    label: str
    help: str
    section: str
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
               "and seed give the same model hashes", EXPERIMENT),
    Definition("rounds", "Rounds", "training rounds after the initial model (round 0)", EXPERIMENT),
    Definition("dataset", "Data set", "digits, breast_cancer, iris, wine (scikit-learn's, shipped with it) or "
               "synthetic", DATA),
    Definition("synthetic_samples", "Synthetic samples", "size of the synthetic data set", DATA,
               {"dataset": ("synthetic",)}),
    Definition("clients", "Clients", "number of clients, each with its own shard of the training data", DATA),
    Definition("partition", "Partition", "how the data is split: iid (shuffled evenly), dirichlet (label skew), "
               "shards (a few classes per client) or quantity (skewed shard sizes)", DATA),
    Definition("alpha", "Alpha (α)", "Dirichlet concentration: small (0.1) = very skewed, large (100) = nearly IID",
               DATA, {"partition": ("dirichlet", "quantity")}),
    Definition("classes_per_client", "Classes per client", "classes each client holds with shards", DATA,
               {"partition": ("shards",)}),
    Definition("model", "Model", "softmax (multinomial logistic regression) or mlp (a small neural network)",
               TRAINING),
    Definition("hidden", "Hidden layers", "mlp hidden layer widths, comma-separated, e.g. 64,32 (empty: 32)",
               TRAINING, {"model": ("mlp",)}),
    Definition("local_epochs", "Local epochs", "passes over its own shard each client makes per round", TRAINING),
    Definition("batch_size", "Batch size", "local minibatch size", TRAINING),
    Definition("lr", "Learning rate", "local SGD step size", TRAINING),
    Definition("mu", "FedProx μ", "FedProx proximal term pulling local training towards the global model "
               "(0 = plain FedAvg training)", TRAINING),
    Definition("aggregator", "Aggregator", "fedavg (weighted mean), median, trimmed_mean, krum or bulyan "
               "(robust to faulty updates)", AGGREGATION),
    Definition("trim_ratio", "Trim ratio", "share of the updates trimmed at each end, per coordinate",
               AGGREGATION, {"aggregator": ("trimmed_mean",)}),
    Definition("byzantine", "Faulty clients tolerated (f)", "faulty updates Krum or Bulyan tolerates per round; "
               "Krum needs at least 2f + 3 clients per round, Bulyan 4f + 3", AGGREGATION,
               {"aggregator": _KRUM_LIKE}),
    Definition("krum_select", "Updates Krum keeps", "1 = Krum, more = Multi-Krum", AGGREGATION,
               {"aggregator": ("krum",)}),
    Definition("fraction", "Fraction sampled", "share of the clients sampled each round (0 to 1]", AGGREGATION),
    Definition("min_clients", "Minimum clients", "fewest clients sampled per round, whatever the fraction",
               AGGREGATION),
    Definition("attack", "Attack", "what the malicious clients do: none, label_flip, sign_flip, noise, scaling or "
               "alie", ADVERSARIES),
    Definition("malicious", "Malicious clients", "how many clients are malicious", ADVERSARIES,
               {"attack": _ATTACKED}),
    Definition("malicious_fraction", "Malicious fraction", "share of the clients that are malicious (instead of a "
               "count)", ADVERSARIES, {"attack": _ATTACKED}),
    Definition("attack_scale", "Attack scale", "sign_flip: k in -k × delta; scaling: the boost; noise: the "
               "standard deviation", ADVERSARIES, {"attack": ("sign_flip", "scaling", "noise")}),
    Definition("dp", "Differential privacy", "client-level DP (DP-FedAvg); epsilon per round on the chain",
               ADVERSARIES),
    Definition("dp_clip", "DP clip norm", "L2 norm each update's delta is clipped to", ADVERSARIES,
               {"dp": (True,)}),
    Definition("dp_noise", "DP noise multiplier", "noise standard deviation over the clip norm", ADVERSARIES,
               {"dp": (True,)}),
    Definition("dp_delta", "DP delta", "the delta epsilon is reported at", ADVERSARIES, {"dp": (True,)}),
    Definition("max_epsilon", "Privacy budget (ε)", "the run stops before a round would exceed it; empty = no "
               "budget", ADVERSARIES, {"dp": (True,)}),
    Definition("rewards", "Rewards", "record data and mining rewards on the chain", ADVERSARIES),
    Definition("reward_per_sample", "Reward per sample", "paid per sample of an accepted update", ADVERSARIES,
               {"rewards": (True,)}),
    Definition("mining_reward", "Mining reward", "paid per mined block, to its miner", ADVERSARIES,
               {"rewards": (True,)}),
    Definition("difficulty_bits", "Difficulty (bits)", "the least proof of work per block, in bits: about 2^bits "
               "hashes each (12: ~4,000; 20: ~1 million); the chain may ask for more", CHAIN),
    Definition("baseline", "Centralized baseline", "also train one model on all the data, to compare with", CHAIN),
)


def definitions(setting_names):
    """The definitions of these settings (the experiment's own, config.SETTING_NAMES), in form order."""
    names = set(setting_names)
    return [definition for definition in _DEFINITIONS if definition.name in names]


def definition(name):
    return next(d for d in _DEFINITIONS if d.name == name)


def applicable(setting_names, values):
    """The names among setting_names that apply with these values."""
    return [d.name for d in definitions(setting_names) if d.applies(values)]
