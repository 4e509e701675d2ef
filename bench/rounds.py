"""Time per federated round: FedChain against a bare numpy FedAvg loop doing the same arithmetic, same run.

FedChain's round is the whole path `run_experiment` takes: every client's local training, aggregation,
evaluation, serialization and hashing of every model, the model blobs, the Round and ClientUpdate rows, the ledger
records and batch, the outbox event, then mining the block at the lowest difficulty and appending it with its
validation. The bare loop is plain numpy: the same local SGD, weighted average and test evaluation on the same
data and shards, with nothing recorded. Both produce the same global model, bit for bit (checked every round):
the difference is FedChain's overhead.

Workload (the default, bench/_workload.py's light client): synthetic data with 100 training samples per client
(about a client's shard when the digits set is split over the default 10 clients), an MLP with one hidden layer
of 32 units (the project's default width), 2 local epochs (between the project's default of 1 and FedAvg's
usual 5) with minibatches of 10 (the default batch size), every client every round. That is 20 SGD steps per
client per round: a light, typical client, so FedChain's fixed cost per client update (blob, rows, ledger
record, Merkle leaf, validation) weighs as much as in real runs. A heavier client (more samples, epochs or hidden
units) hides that cost; --samples, --epochs and --hidden change the workload to see by how much.

Mining is at the experiments' default difficulty (12 leading zero bits) and at what the chain's retarget rule
requires: each size runs long enough to pass two retargets of the chain (FEDCHAIN_RETARGET_INTERVAL blocks
each), so the difficulty a chain of quick rounds reaches is in the figure; the bits mined are printed. Rounds of
the two alternate; the figure of each is its median round (the fastest is printed beside, never judged).
Targets (issue 4): overhead <= 1.3x at 100 clients; time per round linear in clients (the time per client at
1,000 clients within 1.3x of that at 100). Exits 1 when a target is missed.

    .venv/bin/python bench/rounds.py            # 10, 100 and 1,000 clients, two retargets' worth of rounds each
    .venv/bin/python bench/rounds.py --quick    # 10 and 100 clients, one retarget's worth each
    .venv/bin/python bench/rounds.py --epochs 5 --samples 200 --hidden 64   # a heavy client
"""

import argparse
import math
import shutil
import statistics
import time

from _django import setup_django

DATA_DIR = setup_django("rounds")

import numpy as np  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402

from _workload import LIGHT, Workload, experiment_settings  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.federated.blobs import content_address  # noqa: E402
from apps.federated.config import ExperimentConfig  # noqa: E402
from apps.federated.engine import STREAM_TRAINING, federation_for, stream  # noqa: E402
from apps.federated.selectors import round_batch  # noqa: E402
from apps.federated.services import experiment_create, experiment_run_round  # noqa: E402
from apps.ledger.pow import block_work  # noqa: E402
from apps.ledger.store import block_mine  # noqa: E402

OVERHEAD_TARGET = 1.3
LINEARITY_TARGET = 1.3


def experiment_for(clients, workload, rounds):
    return experiment_create(
        name=f"bench {clients} clients",
        # As many rounds as are measured: what an experiment may store is bounded (FEDCHAIN_BUDGET_*).
        **experiment_settings(clients, workload, rounds=rounds, difficulty_bits=ExperimentConfig().difficulty_bits),
    )


class BareFedAvg:
    """FedAvg in plain numpy: what a round costs with nothing recorded, hashed or mined."""

    def __init__(self, federation, params):
        data = federation.dataset
        self.x, self.y = data.x_train, data.y_train
        self.x_test, self.y_test = data.x_test, data.y_test
        self.shards = federation.shards
        self.seed = federation.config.seed
        self.epochs, self.batch, self.lr = federation.config.local_epochs, federation.config.batch_size, federation.config.lr
        d, h, c = data.n_features, federation.config.hidden[0], data.n_classes
        cut = np.cumsum([d * h, h, h * c])
        w1, b1, w2, b2 = np.split(np.array(params), cut)
        self.params = (w1.reshape(d, h), b1, w2.reshape(h, c), b2)

    def local_sgd(self, round_number, client):
        rng = stream(self.seed, STREAM_TRAINING, round_number, client)
        w1, b1, w2, b2 = (array.copy() for array in self.params)
        x_all, y_all = self.x[self.shards[client]], self.y[self.shards[client]]
        n = len(y_all)
        for _ in range(self.epochs):
            order = rng.permutation(n)
            total = 0.0
            for begin in range(0, n, self.batch):
                rows = order[begin : begin + self.batch]
                x, y = x_all[rows], y_all[rows]
                hidden = np.maximum(x @ w1 + b1, 0.0)
                scores = hidden @ w2 + b2
                shifted = scores - scores.max(axis=1, keepdims=True)
                exp = np.exp(shifted)
                sums = exp.sum(axis=1, keepdims=True)
                index = np.arange(len(y))
                total += float(np.mean(np.log(sums[:, 0]) - shifted[index, y])) * len(rows)
                delta = exp / sums
                delta[index, y] -= 1.0
                delta /= len(y)
                grad_w2, grad_b2 = hidden.T @ delta, delta.sum(axis=0)
                delta = (delta @ w2.T) * (hidden > 0)
                grad_w1, grad_b1 = x.T @ delta, delta.sum(axis=0)
                w1 -= self.lr * grad_w1
                b1 -= self.lr * grad_b1
                w2 -= self.lr * grad_w2
                b2 -= self.lr * grad_b2
        return (w1, b1, w2, b2), n

    def round(self, round_number):
        updates = [self.local_sgd(round_number, client) for client in range(len(self.shards))]
        total = float(sum(n for _, n in updates))
        averaged = [np.zeros_like(array) for array in self.params]
        for arrays, n in updates:
            for target, array in zip(averaged, arrays):
                target += (n / total) * array
        self.params = tuple(averaged)
        w1, b1, w2, b2 = self.params
        scores = np.maximum(self.x_test @ w1 + b1, 0.0) @ w2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        loss = float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(self.y_test)), self.y_test]))
        accuracy = float(np.mean(scores.argmax(axis=1) == self.y_test))
        return loss, accuracy

    def flat(self):
        return np.concatenate([array.ravel() for array in self.params])


def measure(clients, rounds, workload):
    experiment = experiment_for(clients, workload, rounds)
    federation = federation_for(experiment.config())
    block_mine(batch=round_batch(experiment_run_round(experiment=experiment, number=0)))
    bare = BareFedAvg(federation, federation.initial_params())
    bare_times, chain_times, parts, bits = [], [], [], []
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        bare.round(number)
        bare_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        round_row = experiment_run_round(experiment=experiment, number=number)
        block = block_mine(batch=round_batch(round_row))
        chain_times.append(time.perf_counter() - started)
        bits.append(math.log2(block_work(block.bits)))

        if content_address(federation.serialize(bare.flat())) != round_row.global_model_hash:
            raise SystemExit(f"round {number} at {clients} clients: the bare loop and FedChain disagree")
        parts.append(
            {
                "train": round_row.train_seconds,
                "aggregate": round_row.aggregate_seconds,
                "evaluate": round_row.evaluate_seconds,
                "mine": block.mined_seconds,
                "record, hash, store, append": chain_times[-1] - round_row.train_seconds - round_row.aggregate_seconds
                - round_row.evaluate_seconds - block.mined_seconds,
            }
        )
    return bare_times, chain_times, parts, bits


def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 and 100 clients, one retarget's worth of rounds")
    parser.add_argument("--rounds", type=positive, help="rounds per size (default: two retarget intervals and 5)")
    parser.add_argument("--samples", type=positive, default=LIGHT.samples, help="training samples per client")
    parser.add_argument("--epochs", type=positive, default=LIGHT.epochs, help="local epochs")
    parser.add_argument("--hidden", type=positive, default=LIGHT.hidden, help="hidden units of the MLP's one hidden layer")
    args = parser.parse_args()
    workload = Workload(samples=args.samples, epochs=args.epochs, hidden=args.hidden)
    sizes = (10, 100) if args.quick else (10, 100, 1000)
    interval = settings.FEDCHAIN_RETARGET_INTERVAL
    rounds = args.rounds or ((1 if args.quick else 2) * interval + 5)
    try:
        report(sizes, rounds, workload)
    except ValidationError as error:
        raise SystemExit(f"the workload is not a valid experiment: {'; '.join(error.messages)}") from None
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


def report(sizes, rounds, workload):
    print(f"rounds of FedAvg, MLP {workload.hidden} hidden, {workload.samples} samples/client, "
          f"{workload.epochs} local epochs; median (fastest) of {rounds} rounds; retarget every "
          f"{settings.FEDCHAIN_RETARGET_INTERVAL} blocks")
    print(f"{'clients':>8} {'bare s/round':>17} {'FedChain s/round':>17} {'overhead':>9} {'FedChain ms/client':>19}")
    results = {}
    for clients in sizes:
        bare_times, chain_times, parts, bits = measure(clients, rounds, workload)
        bare, chain = statistics.median(bare_times), statistics.median(chain_times)
        results[clients] = (bare, chain)
        print(f"{clients:>8} {bare:>8.3f} ({min(bare_times):.3f}) {chain:>8.3f} ({min(chain_times):.3f}) "
              f"{chain / bare:>8.2f}x {1000 * chain / clients:>19.3f}")
        shares = {name: statistics.median(p[name] for p in parts) for name in parts[0]}
        print("         FedChain's round (medians): "
              + ", ".join(f"{name} {1000 * value:.1f} ms" for name, value in shares.items()))
        print(f"         blocks mined at 2^{min(bits):.1f} to 2^{max(bits):.1f} expected hashes "
              f"(median 2^{statistics.median(bits):.1f})")

    failures = []
    bare_100, chain_100 = results[100]
    overhead = chain_100 / bare_100
    print(f"overhead at 100 clients: {overhead:.2f}x (target <= {OVERHEAD_TARGET}x)")
    if overhead > OVERHEAD_TARGET:
        failures.append("overhead")
    if 1000 in results:
        growth = (results[1000][1] / 1000) / (results[100][1] / 100)
        print(f"time per client at 1,000 against 100 clients: {growth:.2f}x (target <= {LINEARITY_TARGET}x: linear)")
        if growth > LINEARITY_TARGET:
            failures.append("linearity")
    if failures:
        print("MISSED: " + ", ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
