"""Rounds per second with 1 and with 2 worker processes, same run.

A CPU-heavy experiment (synthetic data, an MLP, 50 clients, every client every round) is run by real worker
processes started as `make run` starts them (`manage.py run_huey --worker-type process`), through the whole
path: fan-out of one training task per client, aggregation, the round recorded in one transaction, mining.
The rate is steady-state throughput: rounds recorded per second from round 1 to the last round (each worker has
loaded the data by then); the time to the last block is printed beside. BLAS is kept to one thread per process,
so the second worker process is the only parallelism. Target (issue 5): 2 workers >= 1.7x the rounds per second
of 1 on a 2-core machine. Exits 1 when it is missed.

The machine's own scaling is measured in the same run as a reference: the same local training of the same clients
in one plain process, then split over two (no queue, no database). On a machine other work keeps busy, that
reference is below 2x too, and FedChain's ratio should be read against it.

    .venv/bin/python bench/workers.py            # 4 rounds per run; 1 then 2 workers, twice; best of each
    .venv/bin/python bench/workers.py --quick    # 3 rounds per run, once each
"""

import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from _django import BASE_DIR, setup_django

# One BLAS thread per process: the worker processes are what is measured.
ONE_BLAS_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
DATA_DIR = setup_django("workers", environ=ONE_BLAS_THREAD)

from apps.federated.config import experiment_config_validate  # noqa: E402
from apps.federated.engine import federation_for  # noqa: E402
from apps.federated.lifecycle import experiment_start  # noqa: E402
from apps.federated.models import Experiment, Round  # noqa: E402
from apps.federated.services import experiment_create  # noqa: E402

EXPERIMENT = {
    "dataset": "synthetic",
    "synthetic_samples": 100_000,
    "clients": 50,
    "model": "mlp",
    "hidden": [128],
    "local_epochs": 10,
    "batch_size": 10,
    "difficulty_bits": 12,
    # The centralized baseline is a comparison curve, trained beside each round in one process; left out, the
    # bench measures the federated round itself.
    "baseline": False,
}
TARGET = 1.7


class Consumer:
    """`manage.py run_huey` with its worker processes, in a process group of its own."""

    def __init__(self, workers, log):
        self.workers = workers
        with open(log, "ab") as output:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "run_huey", "--workers", str(workers), "--worker-type", "process"],
                cwd=BASE_DIR, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while len(self.children()) < workers + 1:  # the workers and the scheduler
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"the workers did not start; see {log}")
            time.sleep(0.1)

    def children(self):
        try:
            return Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:
            return []

    def cpu_seconds(self):
        """CPU time the workers (and the scheduler) have used so far."""
        ticks = 0
        for pid in self.children():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run(workers, rounds, seed, log):
    consumer = Consumer(workers, log)
    try:
        experiment = experiment_create(name=f"bench {workers} workers", rounds=rounds, seed=seed, **EXPERIMENT)
        started, cpu_started = time.perf_counter(), consumer.cpu_seconds()
        experiment_start(experiment=experiment)
        while True:
            experiment.refresh_from_db()
            if experiment.status not in (Experiment.Status.QUEUED, Experiment.Status.RUNNING):
                break
            time.sleep(0.1)
        total = time.perf_counter() - started
        cores = (consumer.cpu_seconds() - cpu_started) / total
    finally:
        consumer.stop()
    if experiment.status != Experiment.Status.FINISHED:
        raise SystemExit(f"experiment {experiment.id} {experiment.status}: {experiment.error}")
    recorded = dict(Round.objects.filter(experiment=experiment).values_list("number", "created_at"))
    steady = (recorded[rounds] - recorded[1]).total_seconds()
    return (rounds - 1) / steady, total, cores


def _bare_train(client):
    federation = federation_for(experiment_config_validate(EXPERIMENT))
    federation.client_train(federation.initial_params(), 1, client)


def bare_training_rate(processes, clients):
    """Clients trained per second by plain processes doing the same local training: the machine's own scaling."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_bare_train, range(processes), chunksize=1)  # each process loads the data first
        started = time.perf_counter()
        pool.map(_bare_train, range(clients), chunksize=1)
        return clients / (time.perf_counter() - started)


def machine_scaling():
    clients = EXPERIMENT["clients"] // 2
    one, two = bare_training_rate(1, clients), bare_training_rate(2, clients)
    print(f"  reference: the same local training in plain processes, 2 processes train {two / one:.2f}x the clients "
          f"per second of 1 on this machine now")
    return two / one


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds per run, one run per worker count")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (database, logs) to look into")
    args = parser.parse_args()
    rounds, repeats = (3, 1) if args.quick else (4, 2)
    log = Path(DATA_DIR) / "workers.log"
    print(f"bench/workers.py: {EXPERIMENT['clients']} clients, MLP {EXPERIMENT['hidden']}, "
          f"{EXPERIMENT['local_epochs']} local epochs, {rounds} rounds per run, {os.cpu_count()} cores")
    best = {1: 0.0, 2: 0.0}
    seed = 0
    try:
        references = [machine_scaling()]
        for _ in range(repeats):
            for workers in (1, 2):
                rate, total, cores = run(workers, rounds, seed, log)
                seed += 1
                best[workers] = max(best[workers], rate)
                print(f"  {workers} worker(s): {rate:.3f} rounds/s (steady), {total:.1f} s to the last block, "
                      f"the workers used {cores:.2f} cores on average")
        references.append(machine_scaling())
    finally:
        if not args.keep:
            shutil.rmtree(DATA_DIR, ignore_errors=True)
    ratio = best[2] / best[1]
    verdict = "ok" if ratio >= TARGET else "MISSED"
    print(f"best: 1 worker {best[1]:.3f} rounds/s, 2 workers {best[2]:.3f} rounds/s: "
          f"{ratio:.2f}x (target >= {TARGET}x) {verdict}; the machine itself gave "
          f"{' and '.join(f'{reference:.2f}x' for reference in references)} before and after")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
