"""Worker processes for the benches, and what the machine gave them.

`Consumer` starts `manage.py run_huey` with N worker processes, as `make run` starts them, in a process group of
its own, and reads the CPU time its processes used. `CpuWindow` reads the whole machine's busy time over the
same interval, so a bench can say how much of the CPU other load took while it measured: a figure that needs two
free cores is judged only when the other load left them.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _django import BASE_DIR

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid):
    """utime + stime of a live process, in seconds (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds():
    """CPU-seconds every core of the machine has spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


class Consumer:
    """`manage.py run_huey --workers N --worker-type process`, in a process group of its own."""

    def __init__(self, workers, log, *, env=None):
        self.workers = workers
        with open(log, "ab") as output:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "run_huey", "--workers", str(workers), "--worker-type", "process"],
                cwd=BASE_DIR, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                env=env if env is not None else os.environ.copy(),
            )
        deadline = time.monotonic() + 60
        while len(self.children()) < workers + 1:  # the workers and the scheduler
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise SystemExit(f"the workers did not start; see {log}")
            time.sleep(0.1)

    def children(self):
        try:
            return [int(pid) for pid in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def cpu_seconds(self):
        """CPU time the consumer and its processes have used so far."""
        return process_cpu_seconds(self.proc.pid) + sum(process_cpu_seconds(pid) for pid in self.children())

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class CpuWindow:
    """Wall time, the CPU the measured processes used, and the CPU the rest of the machine used, over one
    interval. `ours` is a callable giving the measured processes' CPU-seconds so far."""

    def __init__(self, ours):
        self.ours = ours

    def __enter__(self):
        self.wall, self.cpu, self.busy = time.perf_counter(), self.ours(), machine_busy_seconds()
        return self

    def __exit__(self, *exc_info):
        self.wall = time.perf_counter() - self.wall
        self.cpu = self.ours() - self.cpu
        self.busy = machine_busy_seconds() - self.busy
        self.cores = self.cpu / self.wall  # cores the measured processes got, on average
        self.other = max(0.0, self.busy - self.cpu) / self.wall  # cores the rest of the machine took

    def free_cores(self):
        """Cores the rest of the machine left free, on average."""
        return (os.cpu_count() or 1) - self.other


def follow(experiment, consumer, *, timeout):
    """Starts the experiment in the workers and waits for it to end (up to `timeout` seconds), polling its rounds.

    Returns (seconds between consecutive rounds from round 1 on, the workers' CPU-seconds per round over the
    same rounds, the run's CpuWindow). CPU per round is read when this process first sees a round recorded
    (rounds the poll sees at once share their CPU evenly). Raises SystemExit unless the experiment finished.
    """
    from apps.federated.lifecycle import experiment_start
    from apps.federated.models import Experiment, Round

    deadline = time.monotonic() + timeout
    cpu_at = {}  # rounds recorded -> the workers' CPU-seconds when first seen
    with CpuWindow(consumer.cpu_seconds) as window:
        experiment_start(experiment=experiment)
        while time.monotonic() < deadline:
            experiment.refresh_from_db()
            cpu_at.setdefault(Round.objects.filter(experiment=experiment).count(), consumer.cpu_seconds())
            if experiment.status not in (Experiment.Status.QUEUED, Experiment.Status.RUNNING):
                break
            time.sleep(0.05)
    if experiment.status != Experiment.Status.FINISHED:
        raise SystemExit(f"experiment {experiment.id} is {experiment.status} {experiment.error}")
    recorded = list(Round.objects.filter(experiment=experiment).order_by("number").values_list("created_at", flat=True))
    times = [(later - earlier).total_seconds() for earlier, later in zip(recorded[1:], recorded[2:])]
    seen = sorted((count, cpu) for count, cpu in cpu_at.items() if count >= 2)
    cpu = [(b - a) / (m - n) for (n, a), (m, b) in zip(seen, seen[1:])]
    return times, cpu or [float("nan")], window
