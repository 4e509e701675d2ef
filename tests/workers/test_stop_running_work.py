"""Cancel and pause reach work that is already running in real worker processes: the workers' CPU time stops
growing within 5 seconds (measured from /proc) and nothing of the stopped work is written."""

import os
import time
from pathlib import Path

import pytest

from apps.events.models import Event
from apps.federated.lifecycle import experiment_cancel, experiment_pause, experiment_start
from apps.federated.models import Blob, ClientUpdate, Round
from apps.federated.services import experiment_create
from apps.workers.models import Job
from tests.conftest import wait_for

from .test_worker_processes import assert_log_clean, started_pool

pytestmark = pytest.mark.slow

STOP_WITHIN_SECONDS = 5
TICKS = os.sysconf("SC_CLK_TCK")
# Each client trains for a minute or more: a stop can only come from the check between minibatches.
LONG_TRAINING = dict(dataset="synthetic", synthetic_samples=20_000, clients=2, rounds=2, model="mlp",
                     hidden=[256, 256], local_epochs=500, batch_size=10, difficulty_bits=8, baseline=False)


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def busy_for_a_second(pids):
    before = cpu_seconds(pids)
    time.sleep(1.0)
    return cpu_seconds(pids) - before > 0.2


def seconds_until_idle(pids, started, horizon=10.0, step=0.5, busy=0.05):
    """Seconds from `started` to the end of the last `step`-long interval, up to `horizon`, in which the
    processes used more than `busy` CPU seconds (0 when none did)."""
    last_busy = 0.0
    at, cpu = time.monotonic() - started, cpu_seconds(pids)
    while at < horizon:
        time.sleep(step)
        now, now_cpu = time.monotonic() - started, cpu_seconds(pids)
        if now_cpu - cpu > busy:
            last_busy = now
        at, cpu = now, now_cpu
    return last_busy


def written(experiment):
    return (
        Round.objects.filter(experiment=experiment).count(),
        ClientUpdate.objects.filter(round__experiment=experiment).count(),
        Blob.objects.count(),
        Event.objects.filter(experiment_id=experiment.id, type="client_update").count(),
        Job.objects.filter(experiment_id=experiment.id, status=Job.Status.DONE, key__startswith="train/").count(),
    )


def training_everywhere(pool, tmp_path):
    experiment = experiment_start(experiment=experiment_create(**LONG_TRAINING))
    running = Job.objects.filter(experiment_id=experiment.id, key__startswith="train/", status=Job.Status.RUNNING)
    wait_for(lambda: running.count() == 2, timeout=60, interval=0.1, message="both clients to be training")
    pids = pool.worker_pids()
    # A loaded machine gives them less than their cores: busy is a fifth of a core-second in a second.
    wait_for(lambda: busy_for_a_second(pids), timeout=20, interval=0, message="the workers to use CPU training")
    return experiment, pids


@pytest.mark.parametrize("change, ended_as", [(experiment_cancel, Job.Status.DROPPED),
                                              (experiment_pause, Job.Status.HELD)])
def test_a_change_stops_running_training_within_seconds_and_nothing_is_written_after(
    worker_pool, tmp_path, change, ended_as
):
    pool = started_pool(worker_pool, tmp_path)
    experiment, pids = training_everywhere(pool, tmp_path)
    before = written(experiment)
    started = time.monotonic()
    change(experiment=experiment)
    stopped = seconds_until_idle(pids, started)
    print(f"{change.__name__}: the workers' CPU stopped {stopped:.1f} s after the change")
    assert stopped <= STOP_WITHIN_SECONDS, f"the workers still used CPU {stopped:.1f} s after {change.__name__}"
    assert written(experiment) == before
    trains = Job.objects.filter(experiment_id=experiment.id, key__startswith="train/", round_number=1)
    assert set(trains.values_list("status", flat=True)) == {ended_as}
    if change is experiment_pause:
        experiment_cancel(experiment=experiment)
    assert_log_clean(tmp_path)
