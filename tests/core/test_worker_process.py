import os

import pytest

from apps.core.tasks import worker_identity
from tests.conftest import wait_for


@pytest.mark.slow
def test_task_enqueued_here_runs_in_a_worker_process_and_its_result_is_stored(worker_pool):
    pool = worker_pool(workers=2)
    wait_for(lambda: len(pool.worker_pids()) >= 2, message="the worker processes")

    result = worker_identity.enqueue()

    def finished():
        result.refresh()
        return result.is_finished

    wait_for(finished, timeout=30, message="the task to finish")
    assert result.status.name == "SUCCESSFUL"
    ran_in = result.return_value["pid"]
    assert ran_in != os.getpid()
    assert ran_in in pool.worker_pids()
    # The stored result is readable by id, as any other process would read it.
    stored = worker_identity.get_backend().get_result(result.id)
    assert stored.return_value == result.return_value
