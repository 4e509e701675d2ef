"""One log line per task that ran (logger "fedchain.tasks"): its name, outcome and duration.

Django's task API and Huey each log every task's start and end; at the default verbosity those are off (see
FEDCHAIN_LOG_VERBOSITY) and this line is what remains. A failed task is logged with its traceback.
"""

import logging

from django.tasks.base import TaskResultStatus
from django.tasks.signals import task_finished

logger = logging.getLogger("fedchain.tasks")


def log_task_finished(sender, task_result, **kwargs):
    name = task_result.task.module_path.rsplit(".", 1)[-1]
    started, finished = task_result.started_at, task_result.finished_at
    took = f" in {(finished - started).total_seconds():.2f} s" if started and finished else ""
    failed = task_result.status == TaskResultStatus.FAILED
    # The traceback comes with Django's own ERROR line for a failed task, which stays on at every verbosity.
    logger.log(
        logging.WARNING if failed else logging.INFO,
        "%s %s%s (%s)", name, str(task_result.status).lower(), took, task_result.id,
    )


def connect():
    task_finished.connect(log_task_finished, dispatch_uid="fedchain.tasks.one-line")
