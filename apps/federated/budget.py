"""What an experiment commits the machine to, estimated from its settings before anything runs.

`experiment_cost(config)` estimates the computing (training, aggregation, evaluation and mining, in core-seconds of
a reference core), the bytes of model blobs and records it stores, and the memory its largest job needs.
`budget_refusals` compares that with the limits: per experiment, per user (what their unfinished experiments still
have to do, and how many run) and for the whole installation. Refusals are plain messages keyed by the setting
they concern ("budget" when several do), so a form or an API answer can show them.

The rates below were measured on the development machine (2 cores, numpy on one thread): a minibatch step costs
about 25 microseconds of interpreter work, matrix products run at about 2 GFLOP/s at the sizes experiments use,
and the Python miner tries about a million nonces per second per core (PITFALLS.md). They are estimates meant to
tell a seconds-long experiment from a years-long one, not to schedule anything.
"""

import math
from dataclasses import dataclass, replace

from .blobs import MAX_ELEMENTS
from .datasets import SYNTHETIC_CLASSES, SYNTHETIC_FEATURES, TEST_FRACTION, dataset_load

STEP_SECONDS = 25e-6
FLOPS_PER_SECOND = 2e9
HASHES_PER_SECOND = 1e6
BLOB_BYTES_PER_SECOND = 1e9  # serializing, hashing and storing
# Multiply-adds per sample and parameter: 2 for the forward pass, 4 for the backward pass.
TRAIN_FLOPS = 6
EVAL_FLOPS = 2
RECORD_BYTES = 600  # a client update's ledger record, canonical JSON, with its share of the block
BLOB_HEADER_BYTES = 8 + 64 * (1 + 4 * 2)  # blobs.py: magic, version, count, then at most 64 2-D array headers


@dataclass(frozen=True)
class DataShape:
    n_features: int
    n_classes: int
    train_size: int
    test_size: int


def data_shape(dataset, synthetic_samples):
    """Sizes of an experiment's data set, without building a synthetic one."""
    if dataset == "synthetic":
        test = round(synthetic_samples * TEST_FRACTION)
        return DataShape(SYNTHETIC_FEATURES, SYNTHETIC_CLASSES, synthetic_samples - test, test)
    data = dataset_load(dataset)
    return DataShape(data.n_features, data.n_classes, len(data.y_train), len(data.y_test))


def parameter_count(n_features, n_classes, hidden):
    widths = (n_features, *hidden, n_classes)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))


@dataclass(frozen=True)
class Cost:
    parameters: int
    blob_bytes: int  # one model blob
    stored_bytes: int  # every blob and record the experiment stores over its rounds
    job_memory_bytes: int  # the largest job's working memory
    train_seconds: float  # training, aggregation and evaluation
    mining_seconds: float

    @property
    def core_seconds(self):
        return self.train_seconds + self.mining_seconds

    def share(self, fraction):
        """The part of the cost that `fraction` of the rounds still to run represents."""
        fraction = min(max(fraction, 0.0), 1.0)
        return replace(
            self,
            stored_bytes=int(self.stored_bytes * fraction),
            train_seconds=self.train_seconds * fraction,
            mining_seconds=self.mining_seconds * fraction,
        )


def experiment_cost(config, *, shape=None, pow_limit_bits=0, max_block_records=10_000):
    """The estimated Cost of running every round of the experiment `config` (an ExperimentConfig)."""
    shape = shape or data_shape(config.dataset, config.synthetic_samples)
    params = parameter_count(shape.n_features, shape.n_classes, config.hidden)
    blob = BLOB_HEADER_BYTES + 8 * params
    clients = config.clients
    per_round = config.clients_per_round
    epochs, batch = config.local_epochs, config.batch_size
    # The sampled clients' shards together: the whole training set when every client trains.
    trained = shape.train_size * per_round / clients
    steps = epochs * (trained / batch + per_round)
    flops = epochs * trained * params * TRAIN_FLOPS + shape.test_size * params * EVAL_FLOPS
    if config.baseline:
        steps += epochs * (shape.train_size / batch + 1)
        flops += epochs * shape.train_size * params * TRAIN_FLOPS + shape.test_size * params * EVAL_FLOPS
    flops += _aggregation_flops(config, per_round, params)
    blobs_per_round = per_round + 1 + config.baseline
    round_bytes = blobs_per_round * blob
    round_seconds = steps * STEP_SECONDS + flops / FLOPS_PER_SECOND + 2 * round_bytes / BLOB_BYTES_PER_SECOND

    blocks_per_round = math.ceil((per_round + 2) / max(max_block_records - 1, 1))
    hashes = 2.0 ** max(config.difficulty_bits, pow_limit_bits) * blocks_per_round
    rounds = config.rounds
    return Cost(
        parameters=params,
        blob_bytes=blob,
        stored_bytes=(1 + config.baseline) * blob + rounds * (round_bytes + (per_round + 2) * RECORD_BYTES),
        job_memory_bytes=max(
            _training_memory(shape, config, params),
            # The round job holds every update as bytes and as parameters, and an aggregator's stacked copy.
            3 * per_round * blob + 4 * blob,
        ),
        train_seconds=rounds * round_seconds,
        mining_seconds=(rounds + 1) * hashes / HASHES_PER_SECOND,
    )


def _aggregation_flops(config, n, params):
    if config.aggregator == "krum":
        return n * n * params * 3  # every pairwise distance
    if config.aggregator in ("median", "trimmed_mean"):
        return n * max(math.log2(n), 1) * params * 2  # a sort per coordinate
    return n * params * 2


def _training_memory(shape, config, params):
    data = (shape.train_size + shape.test_size) * (shape.n_features + 1) * 8
    widest = max((shape.n_features, *config.hidden, shape.n_classes))
    activations = min(config.batch_size, shape.train_size) * (shape.n_features + sum(config.hidden) + widest) * 8 * 3
    return data + 6 * params * 8 + activations


@dataclass(frozen=True)
class Limits:
    """Each limit, with the environment variable that sets it (fedchain_site/settings.py)."""

    core_seconds: float  # FEDCHAIN_BUDGET_CORE_SECONDS: one experiment
    stored_bytes: int  # FEDCHAIN_BUDGET_STORED_BYTES: one experiment
    job_memory_bytes: int  # FEDCHAIN_BUDGET_JOB_MEMORY_BYTES: one job of an experiment
    user_core_seconds: float  # FEDCHAIN_BUDGET_USER_CORE_SECONDS: a user's unfinished experiments together
    user_experiments: int  # FEDCHAIN_BUDGET_USER_EXPERIMENTS: a user's unfinished experiments
    site_core_seconds: float  # FEDCHAIN_BUDGET_SITE_CORE_SECONDS: every unfinished experiment together
    site_stored_bytes: int  # FEDCHAIN_BUDGET_SITE_STORED_BYTES: every unfinished experiment together


DEFAULT_LIMITS = Limits(
    core_seconds=6 * 3600,
    stored_bytes=10 * 10**9,
    job_memory_bytes=2 * 10**9,
    user_core_seconds=24 * 3600,
    user_experiments=5,
    site_core_seconds=7 * 24 * 3600,
    site_stored_bytes=50 * 10**9,
)

SMALLER = "fewer rounds, clients, local epochs or hidden units, a larger batch or a lower difficulty"


@dataclass(frozen=True)
class Committed:
    """What unfinished experiments still have to do: the sum of their remaining costs, and how many they are."""

    core_seconds: float = 0.0
    stored_bytes: int = 0
    experiments: int = 0

    def add(self, cost):
        return Committed(self.core_seconds + cost.core_seconds, self.stored_bytes + cost.stored_bytes,
                         self.experiments + 1)


def storable_refusals(parameters):
    """{setting: [message]} when a model of this many parameters cannot be stored in the blob format (nor
    audited)."""
    if parameters > MAX_ELEMENTS:
        return {"hidden": [f"this model has {parameters:,} parameters; a model blob holds at most "
                           f"{MAX_ELEMENTS:,}: use fewer or narrower hidden layers"]}
    return {}


def budget_refusals(cost, *, limits, user=None, site=Committed()):
    """{setting: [message]} for every limit the experiment would exceed; empty when it fits.

    `user` is what the creating user's unfinished experiments have committed (None: no user, e.g. a command run
    by whoever operates the machine), `site` what every unfinished experiment has."""
    refusals = storable_refusals(cost.parameters)

    def refuse(message, key="budget"):
        refusals.setdefault(key, []).append(message)

    if cost.core_seconds > limits.core_seconds:
        refuse(f"this experiment needs about {core_time(cost.core_seconds)} of computing ({core_time(cost.train_seconds)}"
               f" training, {core_time(cost.mining_seconds)} mining); one experiment may use "
               f"{core_time(limits.core_seconds)}: {SMALLER} bring it down")
    if cost.stored_bytes > limits.stored_bytes:
        refuse(f"this experiment stores about {size(cost.stored_bytes)} of models and records "
               f"({size(cost.blob_bytes)} per model); one experiment may store {size(limits.stored_bytes)}: "
               "fewer rounds or clients, or a smaller model, bring it down")
    if cost.job_memory_bytes > limits.job_memory_bytes:
        refuse(f"a job of this experiment needs about {size(cost.job_memory_bytes)} of memory; a job may use "
               f"{size(limits.job_memory_bytes)}: fewer clients per round, a smaller model or a smaller batch "
               "bring it down")
    if user is not None:
        if user.experiments + 1 > limits.user_experiments:
            refuse(f"you have {user.experiments} unfinished experiments, the most a user may have: wait for one to "
                   "finish, or cancel one", key="user")
        elif user.core_seconds + cost.core_seconds > limits.user_core_seconds:
            refuse(f"your unfinished experiments still need about {core_time(user.core_seconds)} of computing and "
                   f"this one {core_time(cost.core_seconds)}; a user's may need {core_time(limits.user_core_seconds)}"
                   " together: wait for them to finish, or cancel one", key="user")
    others = f"the installation's {site.experiments} other unfinished experiments" if site.experiments else ""
    if site.core_seconds + cost.core_seconds > limits.site_core_seconds:
        refuse(f"{others} still need about {core_time(site.core_seconds)} of computing and this one "
               f"{core_time(cost.core_seconds)}; all together may need {core_time(limits.site_core_seconds)}: try "
               "again when some have finished" if others else
               f"this experiment needs more computing than the whole installation may have committed "
               f"({core_time(limits.site_core_seconds)})", key="site")
    elif site.stored_bytes + cost.stored_bytes > limits.site_stored_bytes:
        refuse(f"{others} will store about {size(site.stored_bytes)} and this one {size(cost.stored_bytes)}; all "
               f"together may store {size(limits.site_stored_bytes)}" if others else
               f"this experiment stores more than the whole installation may have committed "
               f"({size(limits.site_stored_bytes)})", key="site")
    return refusals


def core_time(seconds):
    """A duration of computing in words, e.g. '3.2 core-hours'."""
    for unit, length in (("core-year", 365 * 86400), ("core-day", 86400), ("core-hour", 3600),
                         ("core-minute", 60)):
        if seconds >= length:
            return f"{seconds / length:,.1f} {unit}s"
    return f"{seconds:.1f} core-seconds"


def size(n):
    for unit, length in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= length:
            return f"{n / length:,.1f} {unit}"
    return f"{int(n)} bytes"
