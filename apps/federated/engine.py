"""One experiment's federated learning, as pure functions of its settings and recorded models.

Every random choice draws from its own stream, seeded by (seed, stream, round, client): a client's update depends
only on the settings, the previous global model and which client and round it is, so clients can train in any
order, in any process, and the same settings and seed give the same model hashes.
"""

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .aggregation import Aggregation, aggregate, updates_screen
from .attacks import COLLUDING_ATTACKS, DATA_ATTACKS, alie_update, labels_flip, malicious_clients, update_attack
from .blobs import params_parse, params_serialize
from .datasets import dataset_load
from .nn import ModelSpec, evaluate, init_params
from .partition import label_counts, partition
from .privacy import clients_poisson, dp_fedavg, epsilon_spent
from .sampling import clients_sample
from .training import TrainConfig, sgd_train

STREAM_INIT = 0
STREAM_PARTITION = 1
STREAM_SAMPLING = 2
STREAM_TRAINING = 3
STREAM_BASELINE = 4
STREAM_MALICIOUS = 5
STREAM_ATTACK = 6
STREAM_DP_NOISE = 7


def stream(seed, *keys):
    return np.random.default_rng([seed, *keys])


class Federation:
    """The data, shards and model of one experiment configuration. Build it with `federation_for`."""

    def __init__(self, config):
        self.config = config
        self.dataset = dataset_load(config.dataset, synthetic_samples=config.synthetic_samples)
        self.spec = ModelSpec(self.dataset.n_features, self.dataset.n_classes, config.hidden)
        self.train_config = TrainConfig(
            epochs=config.local_epochs, batch_size=config.batch_size, lr=config.lr, mu=config.mu
        )
        self.shards = partition(
            self.dataset.y_train,
            scheme=config.partition,
            n_clients=config.clients,
            rng=stream(config.seed, STREAM_PARTITION),
            alpha=config.alpha,
            classes_per_client=config.classes_per_client,
        )

    @cached_property
    def malicious(self):
        """The malicious clients (a frozenset of indices), drawn once from the seed."""
        config = self.config
        chosen = malicious_clients(config.clients, config.malicious_clients, stream(config.seed, STREAM_MALICIOUS))
        return frozenset(int(index) for index in chosen)

    @cached_property
    def label_counts(self):
        return label_counts(self.dataset.y_train, self.shards, self.dataset.n_classes)

    def initial_params(self):
        """Round 0's global model."""
        return init_params(self.spec, stream(self.config.seed, STREAM_INIT))

    def round_clients(self, round_number):
        """Indices of the clients that train in this round (1-based rounds)."""
        config = self.config
        if config.dp:
            return clients_poisson(config.clients, config.fraction, stream(config.seed, STREAM_SAMPLING, round_number))
        return clients_sample(
            config.clients,
            fraction=config.fraction,
            minimum=config.min_clients,
            rng=stream(config.seed, STREAM_SAMPLING, round_number),
        )

    def client_train(self, global_params, round_number, client_index, should_stop=None):
        """(parameters, mean training loss) of one client's local training in a round: what the client sends,
        so a malicious client's attack included (except a colluding one's: see `collude`); TrainingStopped once
        should_stop() is true."""
        config = self.config
        rows = self.shards[client_index]
        attacking = client_index in self.malicious
        labels = self.dataset.y_train[rows]
        if attacking and config.attack in DATA_ATTACKS:
            labels = labels_flip(labels, self.dataset.n_classes)
        params, loss = sgd_train(
            self.spec,
            global_params,
            self.dataset.x_train[rows],
            labels,
            self.train_config,
            stream(config.seed, STREAM_TRAINING, round_number, client_index),
            should_stop,
        )
        if attacking and config.attack not in COLLUDING_ATTACKS:
            params = update_attack(
                config.attack,
                previous=np.asarray(global_params, dtype=np.float64),
                trained=params,
                scale=config.attack_scale,
                rng=stream(config.seed, STREAM_ATTACK, round_number, client_index),
            )
        return params, loss

    def collude(self, client_indices, vectors):
        """The round's updates after the colluding attack ("a little is enough"): the malicious clients' vectors
        replaced by the update the colluders craft from every honestly trained one. `vectors` are parallel to
        `client_indices`; a None (unreadable) stays out of the statistics. Returns (vectors, replaced positions).
        """
        if self.config.attack not in COLLUDING_ATTACKS:
            return vectors, []
        positions = [p for p, index in enumerate(client_indices) if index in self.malicious]
        usable, _ = updates_screen(vectors, self.spec.size)
        if not positions or not usable:
            return vectors, []
        crafted = alie_update([vectors[p] for p in usable], len(self.malicious & set(client_indices)))
        return [crafted if p in positions else v for p, v in enumerate(vectors)], positions

    def server_round(self, previous, round_number, client_indices, vectors):
        """What the server does with a round's updates (parallel to `client_indices`): the colluders' attack
        applied (see `collude`), then the aggregation. Returns (vectors as aggregated, positions the colluders
        replaced, Aggregation)."""
        vectors, crafted = self.collude(client_indices, vectors)
        samples = [len(self.shards[index]) for index in client_indices]
        return vectors, crafted, self.aggregate(previous, vectors, samples, round_number)

    def epsilon(self, round_number):
        """Epsilon spent after `round_number` rounds at the configured delta; None without DP."""
        if not self.config.dp:
            return None
        return epsilon_spent(**self.config.privacy, rounds=round_number)

    def aggregate(self, previous, updates, samples, round_number):
        """Aggregation of the updates (flat vectors, any of them possibly malformed) weighted by samples; under
        DP, DP-FedAvg with round `round_number`'s noise (drawn from the seed, so an audit re-derives it)."""
        config = self.config
        if config.dp:
            usable, rejected = updates_screen(updates, len(previous))
            params, _ = dp_fedavg(
                previous,
                [updates[i] for i in usable],
                clip=config.dp_clip,
                noise_multiplier=config.dp_noise,
                expected_clients=config.clients_per_round,
                rng=stream(config.seed, STREAM_DP_NOISE, round_number),
            )
            return Aggregation(params, usable, rejected)
        return aggregate(
            config.aggregator,
            updates=updates,
            weights=samples,
            previous=previous,
            trim_ratio=config.trim_ratio,
            byzantine=config.byzantine,
            krum_select=config.krum_select,
        )

    def evaluate(self, params):
        """(test loss, test accuracy) on the held-out test set."""
        return evaluate(self.spec, params, self.dataset.x_test, self.dataset.y_test)

    def baseline_train(self, previous, round_number, should_stop=None):
        """The centralized baseline one round on: the same model and local settings trained on all data."""
        params, _ = sgd_train(
            self.spec,
            previous,
            self.dataset.x_train,
            self.dataset.y_train,
            self.train_config,
            stream(self.config.seed, STREAM_BASELINE, round_number),
            should_stop,
        )
        return params

    def serialize(self, params):
        return params_serialize(self.spec.shapes, params)

    def parse(self, data):
        """Flat parameters from blob bytes; ValueError when they are not a model of this experiment."""
        shapes, params = params_parse(data)
        if tuple(map(tuple, shapes)) != self.spec.shapes:
            raise ValueError(f"the blob holds arrays of shapes {shapes}, this experiment's model has {self.spec.shapes}")
        return params

    def parse_update(self, data):
        """Flat parameters of a client's update as sent, wrong shapes included (the aggregator rejects those)."""
        return params_parse(data)[1]


@lru_cache(maxsize=8)
def federation_for(config):
    """The (cached) Federation of a configuration: building the data and shards once per process."""
    return Federation(config)


@dataclass(frozen=True)
class CentralizedRun:
    losses: list[float]
    accuracies: list[float]


def centralized_baseline(config):
    """Test loss and accuracy of the centralized baseline after each round, round 0 included."""
    federation = federation_for(config)
    params = federation.initial_params()
    losses, accuracies = [], []
    for round_number in range(config.rounds + 1):
        if round_number:
            params = federation.baseline_train(params, round_number)
        loss, accuracy = federation.evaluate(params)
        losses.append(loss)
        accuracies.append(accuracy)
    return CentralizedRun(losses, accuracies)
