"""The workers' settings come from the environment; values that cannot work stop startup with a plain message."""

import pytest

from tests.core.test_settings import run_manage


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"FEDCHAIN_HEARTBEAT_SECONDS": "10", "FEDCHAIN_CLAIM_TIMEOUT": "15"}, "FEDCHAIN_CLAIM_TIMEOUT at least twice"),
        ({"FEDCHAIN_ROUND_DEADLINE": "0"}, "FEDCHAIN_ROUND_DEADLINE must be at least 1"),
        ({"FEDCHAIN_JOB_ATTEMPTS": "three"}, "FEDCHAIN_JOB_ATTEMPTS='three' is not an integer"),
        ({"FEDCHAIN_DATABASE_WAIT": "0"}, "FEDCHAIN_DATABASE_WAIT must be at least 1"),
        ({"FEDCHAIN_CLUSTER_WORKERS": "0"}, "FEDCHAIN_WORKERS and FEDCHAIN_CLUSTER_WORKERS must be at least 1"),
    ],
)
def test_settings_that_cannot_work_are_refused_with_a_message(tmp_path, overrides, message):
    done = run_manage("check", env_overrides=overrides, data_dir=tmp_path)
    assert done.returncode != 0 and message in done.stderr


def test_the_environment_sets_the_workers_timing(tmp_path):
    shown = run_manage(
        "shell", "-c", "from django.conf import settings as s; print(s.FEDCHAIN_CLAIM_TIMEOUT, s.FEDCHAIN_ROUND_DEADLINE)",
        env_overrides={"FEDCHAIN_CLAIM_TIMEOUT": "45", "FEDCHAIN_ROUND_DEADLINE": "90"}, data_dir=tmp_path,
    )
    assert shown.returncode == 0 and shown.stdout.split()[-2:] == ["45", "90"], shown.stderr
