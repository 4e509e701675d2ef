"""Time per round through the worker processes against the in-process engine, on the same rounds, same run.

The in-process engine is what `run_experiment` runs in the foreground: each round's clients trained in this
process, aggregated, recorded in one transaction and mined (`experiment_run_round`, `block_mine`). The worker
path is what `make run` runs: `manage.py run_huey` with 1 or 2 worker processes, the experiment started with
`experiment_start`, every job claimed, run and completed through the database and the queue. Both run the same
experiment (same settings and seed) and must record the same global model hashes, checked every round: the same
work, only the path differs.

Runs take turns (in-process, 1 worker, 2 workers, then again), for light and heavy clients (bench/_workload.py)
at 100 and 1,000 clients. A run's time per round is the median over its rounds from round 2 on (round 1 is when
each worker process first loads the data set); the figure of each path is the median over its runs. Mining is
kept at the chain's easiest target (no retarget within the bench: bench/rounds.py measures mining at the
difficulty real chains reach), so the figure is the training path itself.

Beside the wall-clock figures, the CPU-seconds each path spends per round are printed (its processes' own, from
/proc: what the path costs whatever the rest of the machine does); they are not judged.

Targets (issue 14): one worker <= 1.5x the in-process time per round at 100 and 1,000 light clients; two workers
>= 1.7x the rounds per second of one, on wall clock, when two cores were free. Whether they were is measured
twice in each turn, right before the 1- and 2-worker runs:
- the CPU the other processes of the machine took during each run (/proc/stat);
- what two cores gave bare local training (the workload's clients trained by the engine alone, no database, no
  queue) in two processes at once against one, by clients trained per second (probes of 1 s, interleaved: one
  process, two, one, two). A shared or throttled host shows here what /proc/stat cannot see.
When the other load took more than 0.2 of a core, or the bare training in two processes ran below 1.9x one (the
median of the probes), the two-worker figure is printed but not judged ("cores not free"), never extrapolated.
Exits 1 when a judged target is missed.

Beside the two-worker figure, the part of a round only one worker can do (its aggregation, evaluation and
recording, which also sends the next round's clients out; from the jobs' own times in the 2-worker runs) and the
most two workers can then give over one (Amdahl's bound from that part and the one-worker time): a round whose
serial part is large cannot reach 1.7x however the training is spread.

    .venv/bin/python bench/workers.py            # light and heavy, 100 and 1,000 clients, 5 rounds, 2 turns
    .venv/bin/python bench/workers.py --quick    # light, 100 clients, 4 rounds, 1 turn
    .venv/bin/python bench/workers.py --workloads light --sizes 1000 --turns 3
"""

import argparse
import multiprocessing
import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

from _django import setup_django

# One BLAS thread per process: the worker processes are the only parallelism. No retarget within the bench.
ENVIRON = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
ENVIRON["FEDCHAIN_RETARGET_INTERVAL"] = "1000000"
# Production mode (no query log) for both paths.
ENVIRON.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="a-key-for-this-bench-only-" + "x" * 40)
DATA_DIR = setup_django("workers", environ=ENVIRON)

from _processes import Consumer, CpuWindow, follow  # noqa: E402
from _workload import WORKLOADS, experiment_settings  # noqa: E402

from apps.federated.config import experiment_config_validate  # noqa: E402
from apps.federated.engine import federation_for  # noqa: E402
from apps.federated.lifecycle import ROUND, TASKS, TRAIN  # noqa: E402
from apps.federated.models import Round  # noqa: E402
from apps.federated.selectors import round_batch  # noqa: E402
from apps.federated.services import experiment_create, experiment_run_round  # noqa: E402
from apps.ledger.store import block_mine  # noqa: E402
from apps.workers.models import Job  # noqa: E402

ONE_WORKER_TARGET = 1.5  # at most, against in-process, light clients
TWO_WORKERS_TARGET = 1.7  # at least, against one worker
OTHER_LOAD_LIMIT = 0.2  # cores the rest of the machine may take while two workers are judged
FREE_TWO_CORES = 1.9  # at least: bare training in two processes against one when two cores were free
PROBE_SECONDS = 1.0
SEED = 7


def own_cpu_seconds():
    times = os.times()
    return times.user + times.system


def in_process(clients, workload, rounds):
    """Per-round seconds and CPU-seconds of rounds 2.. in this process, the global model hashes, and the run's
    CPU window."""
    experiment = experiment_create(name="in-process", seed=SEED, **experiment_settings(clients, workload, rounds=rounds))
    times, cpu, hashes = [], [], []
    with CpuWindow(own_cpu_seconds) as window:
        for number in range(rounds + 1):
            started, cpu_started = time.perf_counter(), own_cpu_seconds()
            round_row = experiment_run_round(experiment=experiment, number=number)
            block_mine(batch=round_batch(round_row))
            times.append(time.perf_counter() - started)
            cpu.append(own_cpu_seconds() - cpu_started)
            hashes.append(round_row.global_model_hash)
    return times[2:], cpu[2:], hashes, window


def _bare_training(federation, seconds, start, counts):
    params = federation.initial_params()
    start.wait()
    trained, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        federation.client_train(params, 1, trained % federation.config.clients)
        trained += 1
    counts.put(trained)


def bare_training_rate(federation, processes):
    """Clients trained per second by `processes` processes at once, each training clients with the engine alone
    for PROBE_SECONDS (forked from this process: the data set is built once)."""
    context = multiprocessing.get_context("fork")
    start, counts = context.Event(), context.Queue()
    children = [context.Process(target=_bare_training, args=(federation, PROBE_SECONDS, start, counts))
                for _ in range(processes)]
    for child in children:
        child.start()
    time.sleep(0.2)  # all forked and waiting
    start.set()
    trained = sum(counts.get(timeout=60) for _ in children)
    for child in children:
        child.join()
    return trained / PROBE_SECONDS


def two_cores_gave(clients, workload):
    """Bare training's rate in two processes at once over one: median of two interleaved pairs of probes."""
    federation = federation_for(experiment_config_validate(
        {"seed": SEED, **experiment_settings(clients, workload, rounds=1)}
    ))
    rates = {1: [], 2: []}
    for _ in range(2):
        for processes in rates:
            rates[processes].append(bare_training_rate(federation, processes))
    return statistics.median(rates[2]) / statistics.median(rates[1])


def through_workers(workers, clients, workload, rounds, log):
    """The same through a consumer with `workers` worker processes: the intervals between rounds recorded."""
    # The round's training is split for the workers that run it (two jobs per worker process).
    consumer = Consumer(workers, log, env={**os.environ, "FEDCHAIN_CLUSTER_WORKERS": str(workers)})
    try:
        experiment = experiment_create(
            name=f"{workers} workers", seed=SEED, **experiment_settings(clients, workload, rounds=rounds)
        )
        times, cpu, window = follow(experiment, consumer, timeout=60 + 2 * rounds * clients)
    finally:
        consumer.stop()
    hashes = list(Round.objects.filter(experiment=experiment).order_by("number").values_list("global_model_hash", flat=True))
    return times, cpu, hashes, window, serial_seconds(experiment)


def serial_seconds(experiment):
    """The median, over rounds 2.., of the part of a round no second worker can share, from the jobs' own
    times: from its last train job's end to the round job's (aggregation, evaluation, recording, and the next
    round's train jobs created)."""
    jobs = Job.objects.filter(experiment_id=experiment.id, round_number__gte=2)
    rounds = {job.round_number: job for job in jobs.filter(task=TASKS[ROUND])}
    trains = {}
    for job in jobs.filter(task=TASKS[TRAIN]):
        trains.setdefault(job.round_number, []).append(job)
    parts = [
        (job.finished_at - max(t.finished_at for t in trains[number])).total_seconds()
        for number, job in rounds.items()
        if trains.get(number) and job.finished_at
    ]
    return statistics.median(parts) if parts else float("nan")


def two_workers_bound(one_worker, serial):
    """The most two workers can give over one (Amdahl), when `serial` seconds of a round of `one_worker`
    seconds run on one worker whatever their number."""
    return one_worker / (serial + (one_worker - serial) / 2)


def measure(name, clients, rounds, turns, log):
    workload = WORKLOADS[name]
    runs = {"in-process": [], "1 worker": [], "2 workers": []}
    cpu_runs = {path: [] for path in runs}
    windows = {path: [] for path in runs}
    serial, two_cores = [], []
    reference_hashes = None
    for turn in range(1, turns + 1):
        for path in runs:
            if path != "in-process":
                two_cores.append(two_cores_gave(clients, workload))
            if path == "in-process":
                times, cpu, hashes, window = in_process(clients, workload, rounds)
            else:
                times, cpu, hashes, window, serial_part = through_workers(int(path[0]), clients, workload, rounds, log)
                if path == "2 workers":
                    serial.append(serial_part)
            if reference_hashes is None:
                reference_hashes = hashes
            elif hashes != reference_hashes:
                raise SystemExit(f"{path} recorded other global models than the in-process engine ({name}, {clients})")
            runs[path].append(statistics.median(times))
            cpu_runs[path].append(statistics.median(cpu))
            windows[path].append(window)
            probe = f", bare training 2/1 processes {two_cores[-1]:.2f}x just before" if path != "in-process" else ""
            print(f"    turn {turn} {path:>10}: {runs[path][-1]:7.3f} s/round (median of {len(times)}), "
                  f"{cpu_runs[path][-1]:6.3f} CPU-s/round, {window.cores:.2f} cores used, other load "
                  f"{window.other:.2f} cores{probe}", flush=True)
    median = {path: statistics.median(values) for path, values in runs.items()}
    cpu_median = {path: statistics.median(values) for path, values in cpu_runs.items()}
    return median, cpu_median, windows, statistics.median(serial), two_cores


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="light clients, 100 of them, 4 rounds, 1 turn")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), help="default: light heavy")
    parser.add_argument("--sizes", nargs="+", type=int, help="client counts (default: 100 1000)")
    parser.add_argument("--rounds", type=int, help="rounds per run, at least 3 (default 5, quick 4)")
    parser.add_argument("--turns", type=int, help="runs of each path (default 2, quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (database, logs) to look into")
    args = parser.parse_args()
    workloads = args.workloads or (["light"] if args.quick else ["light", "heavy"])
    sizes = args.sizes or ([100] if args.quick else [100, 1000])
    rounds = max(3, args.rounds or (4 if args.quick else 5))
    turns = max(1, args.turns or (1 if args.quick else 2))
    log = Path(DATA_DIR) / "workers.log"
    print(f"bench/workers.py: {os.cpu_count()} cores, {rounds} rounds per run, {turns} turn(s) of in-process, "
          f"1 worker, 2 workers; seconds per round, medians")
    failures, unjudged, lines = [], [], []
    try:
        for name in workloads:
            for clients in sizes:
                print(f"  {name} clients, {clients}:", flush=True)
                median, cpu, windows, serial, two_cores = measure(name, clients, rounds, turns, log)
                one = median["1 worker"] / median["in-process"]
                two = median["1 worker"] / median["2 workers"]
                other = max(window.other for window in windows["2 workers"])
                probes, two_cores = two_cores, statistics.median(two_cores)
                line = (f"{name:>5} {clients:>5}: in-process {median['in-process']:.3f} s, 1 worker "
                        f"{median['1 worker']:.3f} s ({one:.2f}x in-process), 2 workers {median['2 workers']:.3f} s "
                        f"({two:.2f}x the rate of 1)")
                if name == "light":
                    line += f"  [1 worker <= {ONE_WORKER_TARGET}x: {'met' if one <= ONE_WORKER_TARGET else 'MISSED'}]"
                    if one > ONE_WORKER_TARGET:
                        failures.append(f"1 worker at {clients} light clients")
                if other > OTHER_LOAD_LIMIT or two_cores < FREE_TWO_CORES:
                    why = (f"other processes took up to {other:.2f} cores" if other > OTHER_LOAD_LIMIT else
                           f"bare training in two processes ran at {two_cores:.2f}x one (median of the probes)")
                    line += f"  [2 workers >= {TWO_WORKERS_TARGET}x: not judged, the cores were not free: {why}]"
                    unjudged.append(f"2 workers at {clients} {name} clients")
                else:
                    line += f"  [2 workers >= {TWO_WORKERS_TARGET}x: {'met' if two >= TWO_WORKERS_TARGET else 'MISSED'}]"
                    if two < TWO_WORKERS_TARGET:
                        failures.append(f"2 workers at {clients} {name} clients")
                lines.append(line)
                bound = two_workers_bound(median["1 worker"], serial)
                lines.append(f"             two cores gave bare training {two_cores:.2f}x one (median of the probes "
                             f"before the worker runs: {', '.join(f'{probe:.2f}' for probe in probes)})")
                lines.append(f"             serial part of a round with 2 workers (aggregation and recording; "
                             f"median): {serial:.3f} s, so 2 workers can give at most {bound:.2f}x")
                lines.append(f"             CPU-seconds per round (not judged: what each path spends, whatever the "
                             f"load): in-process {cpu['in-process']:.3f}, 1 worker {cpu['1 worker']:.3f} "
                             f"({cpu['1 worker'] / cpu['in-process']:.2f}x), 2 workers {cpu['2 workers']:.3f}")
    finally:
        if not args.keep:
            shutil.rmtree(DATA_DIR, ignore_errors=True)
    print()
    for line in lines:
        print(line)
    if unjudged:
        print("not judged (cores not free): " + ", ".join(unjudged))
    print("MISSED: " + ", ".join(failures) if failures else "judged targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the workers on the way out (finally blocks)
    sys.exit(main())
