"""The workers on PostgreSQL and Redis, by configuration alone: an experiment handed to two worker processes over
Redis runs to the end on PostgreSQL (where claims and completions race for real, with row locks)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.core.test_scaled_out import manage, scaled_out_env  # noqa: F401 (scaled_out_env: a fixture)


@pytest.mark.slow
def test_workers_run_an_experiment_to_the_end_on_postgres_and_redis(scaled_out_env):  # noqa: F811
    env = scaled_out_env
    migrated = manage(env, "migrate", "-v0", timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    workers = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey", "--workers", "2", "--worker-type", "process"],
        cwd=settings.BASE_DIR, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        started = manage(env, "run_experiment", "--dataset", "digits", "--clients", "8", "--rounds", "3",
                         "--difficulty-bits", "14", "--background", timeout=60)
        assert started.returncode == 0, started.stderr
        experiment_id = started.stdout.strip()
        deadline = time.monotonic() + 90
        while True:
            shown = manage(env, "experiment", "status", experiment_id, "--json", timeout=60)
            progress = json.loads(shown.stdout)
            if progress["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert progress == {"experiment": int(experiment_id), "status": "finished", "error": "", "rounds": 3,
                            "recorded": 3, "mined": 3, "training": None}
        verified = manage(env, "verify_chain", timeout=60)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        os.killpg(workers.pid, signal.SIGKILL)  # the consumer's process group: it and its workers
        log = workers.communicate(timeout=20)[0]
    assert "Traceback" not in log, log[-4000:]
