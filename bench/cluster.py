"""Rounds per second with 1, 2 and 4 worker processes on PostgreSQL + Redis, against the ideal line, same run.

The scaled-out setup of the README's deployment section: the shared PostgreSQL (127.0.0.1:5432, a database of
this run's own, dropped at the end) and Redis (127.0.0.1:6379, a queue name of this run's own, its keys deleted
at the end), `manage.py run_huey` with N worker processes, a CPU-heavy experiment (synthetic data, an MLP of 64
hidden units, 24 clients of 20 local epochs each, every client every round) started with `experiment_start`.
The rate is steady-state throughput: rounds recorded per second from round 1 to the last (each worker has
loaded the data by then). Runs take turns (1, 2, 4, then again); each figure is the median over its runs.

The ideal line is N times the rate of one worker, up to the cores the machine has (beyond them, workers share
cores): it is printed beside each figure, with the CPU the workers got and the CPU the rest of the machine took
(/proc/stat). On a machine other work keeps busy the workers get less than the ideal needs, and the bench says
so instead of extrapolating. No target is judged: it is the curve, measured.

    .venv/bin/python bench/cluster.py            # 5 rounds per run, 2 turns
    .venv/bin/python bench/cluster.py --quick    # 3 rounds per run, 1 turn
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import uuid

from _django import setup_django

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)
NAME = f"fedchain_bench_cluster_{uuid.uuid4().hex[:8]}"
PSQL = ["psql", "-h", POSTGRES["host"], "-p", str(POSTGRES["port"]), "-U", POSTGRES["user"], "-d", "postgres", "-qc"]
EXPERIMENT = {
    "dataset": "synthetic", "synthetic_samples": 24_000, "clients": 24, "model": "mlp", "hidden": [64],
    "local_epochs": 20, "difficulty_bits": 12, "baseline": False,
}
WORKERS = (1, 2, 4)


def database_create():
    created = subprocess.run([*PSQL, f"CREATE DATABASE {NAME}"], capture_output=True, text=True)
    if created.returncode != 0:  # nothing measured, and said so (make bench goes on with the other benches)
        print(f"bench/cluster.py: NOT MEASURED, it needs PostgreSQL on {POSTGRES['host']}:{POSTGRES['port']} "
              f"(and Redis on {REDIS[0]}:{REDIS[1]}): {created.stderr.strip()}")
        sys.exit(0)


database_create()
ENVIRON = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
ENVIRON.update(
    DATABASE_URL=f"postgres://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{NAME}",
    REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/0",
    FEDCHAIN_QUEUE_NAME=NAME,
    DJANGO_DEBUG="0",
    DJANGO_SECRET_KEY="a-key-for-this-bench-only-" + "x" * 40,
)
try:
    DATA_DIR = setup_django("cluster", environ=ENVIRON)
except BaseException:
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)"], capture_output=True)
    raise

from _processes import Consumer, follow  # noqa: E402

from apps.federated.services import experiment_create  # noqa: E402


def run(workers, rounds, log):
    consumer = Consumer(workers, log, env={**os.environ, "FEDCHAIN_CLUSTER_WORKERS": str(workers)})
    try:
        experiment = experiment_create(name=f"{workers} workers", rounds=rounds, **EXPERIMENT)
        times, _, window = follow(experiment, consumer, timeout=600)
    finally:
        consumer.stop()
    return len(times) / sum(times), window


def cleanup():
    import redis

    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)"], capture_output=True)
    client = redis.Redis(host=REDIS[0], port=REDIS[1])
    leftovers = list(client.scan_iter(f"huey.*.{NAME}"))
    if leftovers:
        client.delete(*leftovers)
    shutil.rmtree(DATA_DIR, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds per run, one turn")
    parser.add_argument("--rounds", type=int, help="rounds per run, at least 3 (default 5, quick 3)")
    parser.add_argument("--turns", type=int, help="runs of each worker count (default 2, quick 1)")
    args = parser.parse_args()
    rounds = max(3, args.rounds or (3 if args.quick else 5))
    turns = max(1, args.turns or (1 if args.quick else 2))
    cores = os.cpu_count() or 1
    log = os.path.join(DATA_DIR, "workers.log")
    print(f"bench/cluster.py: PostgreSQL + Redis, {cores} cores, {EXPERIMENT['clients']} clients of MLP "
          f"{EXPERIMENT['hidden']} x {EXPERIMENT['local_epochs']} epochs, {rounds} rounds per run, {turns} turn(s)")
    rates = {workers: [] for workers in WORKERS}
    windows = {workers: [] for workers in WORKERS}
    for turn in range(1, turns + 1):
        for workers in WORKERS:
            rate, window = run(workers, rounds, log)
            rates[workers].append(rate)
            windows[workers].append(window)
            print(f"  turn {turn}, {workers} worker(s): {rate:.3f} rounds/s; the workers got {window.cores:.2f} "
                  f"cores, other processes took {window.other:.2f}", flush=True)
    one = statistics.median(rates[1])
    print()
    print(f"{'workers':>8} {'rounds/s':>9} {'x 1 worker':>11} {'ideal':>6} {'cores got':>10} {'other load':>11}")
    for workers in WORKERS:
        rate = statistics.median(rates[workers])
        ideal = min(workers, cores)
        got = statistics.median(window.cores for window in windows[workers])
        other = statistics.median(window.other for window in windows[workers])
        note = "" if other <= 0.2 else "  (the cores were not free)"
        print(f"{workers:>8} {rate:>9.3f} {rate / one:>10.2f}x {ideal:>5}x {got:>10.2f} {other:>11.2f}{note}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        status = main()
    finally:
        cleanup()
    sys.exit(status)
