"""Robustness under attack, the cost of privacy, and what each aggregator costs per round.

Every run goes through the learning core the experiments run on (engine.Federation: the clients' training with
their attack, the server's collusion step and aggregation, the test evaluation), without the database or the
chain: what is measured is the learning, not the recording. Each figure comes from this run.

1. The attack x aggregator table: digits, 20 clients (IID), softmax regression, 30 rounds, every client every
   round; 4 malicious clients (20%), then 3 (15%). Per cell: the final test accuracy, and the mean over rounds
   of the aggregator's true and false positive rates (its rejections against the known malicious set; FedAvg,
   the median and the trimmed mean reject nothing). Krum and Bulyan are told f = the malicious count,
   Multi-Krum keeps n - f updates, the trimmed mean cuts f / n at each end.
2. DP on vs off: FedAvg against DP-FedAvg (noise multiplier 1.0, clip 1.0; every client every round, and half
   of them by Poisson sampling), accuracy and epsilon at delta 1e-5 after each round, from the RDP accountant the
   runs use and from the PLD accountant beside it.
3. Time per round at 100 clients (digits, each aggregator with f = 10): rounds of every aggregator alternate,
   each from the same global model; the median whole round (training, aggregation, evaluation) and the median
   aggregation alone, each against FedAvg's in the same run.

    .venv/bin/python bench/robustness.py            # everything (a few minutes on 2 cores)
    .venv/bin/python bench/robustness.py --quick    # 10 rounds, fewer timing repetitions
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from apps.federated.attacks import ATTACKS, detection_rates  # noqa: E402
from apps.federated.config import experiment_config_validate  # noqa: E402
from apps.federated.engine import Federation  # noqa: E402
from apps.federated.privacy import epsilon_spent  # noqa: E402

BASE = {"dataset": "digits", "clients": 20, "rounds": 30, "partition": "iid", "model": "softmax", "baseline": False}


def aggregators(clients, faulty):
    """(label, settings) of each aggregator, tuned to tolerate `faulty` of `clients`."""
    return [
        ("fedavg", {"aggregator": "fedavg"}),
        ("median", {"aggregator": "median"}),
        ("trimmed_mean", {"aggregator": "trimmed_mean", "trim_ratio": max(faulty, 1) / clients}),
        ("krum", {"aggregator": "krum", "byzantine": faulty, "krum_select": 1}),
        ("multi_krum", {"aggregator": "krum", "byzantine": faulty, "krum_select": clients - faulty}),
        ("bulyan", {"aggregator": "bulyan", "byzantine": faulty}),
    ]


def federation(settings):
    return Federation(experiment_config_validate(settings))


def run(settings, rounds):
    """Per round: test accuracy, true and false positive rates, epsilon; with the whole run's seconds."""
    fed = federation({**settings, "rounds": rounds})
    params = fed.initial_params()
    history = []
    for number in range(1, rounds + 1):
        clients = [int(index) for index in fed.round_clients(number)]
        vectors = [fed.client_train(params, number, index)[0] for index in clients]
        _, _, aggregation = fed.server_round(params, number, clients, vectors)
        params = aggregation.params
        accepted = set(aggregation.accepted)
        tpr, fpr = detection_rates(
            [index in fed.malicious for index in clients], [p not in accepted for p in range(len(clients))]
        )
        history.append({"accuracy": fed.evaluate(params)[1], "tpr": tpr, "fpr": fpr, "epsilon": fed.epsilon(number)})
    return history


def mean_rate(history, key):
    values = [row[key] for row in history if row[key] is not None]
    return statistics.fmean(values) if values else None


def percent(value):
    return "   -" if value is None else f"{100 * value:4.0f}"


def table(malicious, rounds):
    print(f"\n## {malicious} of 20 clients malicious ({100 * malicious / 20:.0f}%), {rounds} rounds: "
          "final accuracy % (mean TPR % / FPR % of the rejections)")
    labels = [label for label, _ in aggregators(20, malicious)]
    print(f"{'attack':<11}" + "".join(f"{label:>21}" for label in labels))
    results = {}
    for attack in ATTACKS:
        attack_settings = {} if attack == "none" else {"attack": attack, "malicious": malicious}
        cells = []
        for label, settings in aggregators(20, malicious):
            history = run({**BASE, **settings, **attack_settings}, rounds)
            results[attack, label] = history
            cells.append(f"{100 * history[-1]['accuracy']:6.1f} ({percent(mean_rate(history, 'tpr'))}/"
                         f"{percent(mean_rate(history, 'fpr'))})")
        print(f"{attack:<11}" + "".join(f"{cell:>21}" for cell in cells), flush=True)
    return results


def acceptance(results):
    """The issue's criteria on the 20% sign-flipping row, printed as facts."""
    clean = results["none", "fedavg"][-1]["accuracy"]
    attacked = {label: results["sign_flip", label][-1]["accuracy"] for _, label in [(0, "fedavg"), (0, "multi_krum"),
                                                                                  (0, "median"), (0, "trimmed_mean")]}
    print(f"\nclean FedAvg {100 * clean:.1f}%; under 20% sign flipping:")
    print(f"  FedAvg falls by {100 * (clean - attacked['fedavg']):.1f} points (criterion: more than 20)")
    for label in ("multi_krum", "median", "trimmed_mean"):
        print(f"  {label} is {100 * (clean - attacked[label]):+.1f} points below clean FedAvg "
              f"(criterion: within 3)")


def privacy(rounds):
    print(f"\n## DP-FedAvg (noise multiplier 1.0, clip 1.0, delta 1e-5) against FedAvg, 20 clients, {rounds} rounds")
    runs = {
        "fedavg": run(BASE, rounds),
        "dp q=1.0": run({**BASE, "dp": True}, rounds),
        "dp q=0.5": run({**BASE, "dp": True, "fraction": 0.5}, rounds),
    }
    # The runs account with RDP (the default); the PLD accountant's epsilon of the same rounds is beside it.
    print(f"{'round':>5}" + "".join(f"{name + ' acc %':>16}" for name in runs)
          + "".join(f"{f'{accountant} q={q}':>12}" for q in ("1.0", "0.5") for accountant in ("rdp", "pld")))
    for index in range(rounds):
        if index + 1 in (1, 2, 5, 10, 15, 20, 25, 30) or index + 1 == rounds:
            row = f"{index + 1:>5}" + "".join(f"{100 * runs[name][index]['accuracy']:>16.1f}" for name in runs)
            for q in (1.0, 0.5):
                pld = epsilon_spent(sampling_rate=q, noise_multiplier=1.0, delta=1e-5, rounds=index + 1, accountant="pld")
                row += f"{runs[f'dp q={q}'][index]['epsilon']:>12.2f}{pld:>12.2f}"
            print(row)


def timing(repeats):
    clients, faulty = 100, 10
    print(f"\n## Time per round at {clients} clients (digits, f = {faulty}), {repeats} rounds of each, interleaved")
    feds = {label: federation({**BASE, "clients": clients, **settings}) for label, settings in aggregators(clients, faulty)}
    start = next(iter(feds.values())).initial_params()
    whole = {label: [] for label in feds}
    aggregate = {label: [] for label in feds}
    cpu = {label: [] for label in feds}  # this process's CPU time in the aggregation: what a busy machine hides
    for _ in range(repeats):
        for label, fed in feds.items():
            began = time.perf_counter()
            indices = [int(index) for index in fed.round_clients(1)]
            vectors = [fed.client_train(start, 1, index)[0] for index in indices]
            aggregated, aggregated_cpu = time.perf_counter(), time.process_time()
            _, _, result = fed.server_round(start, 1, indices, vectors)
            aggregate[label].append(time.perf_counter() - aggregated)
            cpu[label].append(time.process_time() - aggregated_cpu)
            fed.evaluate(result.params)
            whole[label].append(time.perf_counter() - began)
    base_whole, base_aggregate = statistics.median(whole["fedavg"]), statistics.median(aggregate["fedavg"])
    print(f"{'aggregator':<13}{'round ms':>10}{'x fedavg':>10}{'aggregation ms':>16}{'x fedavg':>10}"
          f"{'aggregation CPU ms':>20}")
    for label in feds:
        round_ms, agg_ms = statistics.median(whole[label]), statistics.median(aggregate[label])
        print(f"{label:<13}{1000 * round_ms:>10.1f}{round_ms / base_whole:>10.2f}{1000 * agg_ms:>16.2f}"
              f"{agg_ms / base_aggregate:>10.1f}{1000 * statistics.median(cpu[label]):>20.2f}")
    print(f"(load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; medians of wall "
          "clock, with this process's CPU time beside the aggregation)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 rounds, 5 timing repetitions")
    parser.add_argument("--timing", action="store_true", help="only the time per round at 100 clients")
    args = parser.parse_args()
    rounds = 10 if args.quick else 30
    np.seterr(all="ignore")  # diverging FedAvg under attack is part of what is measured
    began = time.perf_counter()
    if args.timing:
        timing(5 if args.quick else 15)
        return
    results = table(4, rounds)
    acceptance(results)
    table(3, rounds)
    privacy(rounds)
    timing(5 if args.quick else 15)
    print(f"\n(whole bench: {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
