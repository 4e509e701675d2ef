"""Huey keeps a record of every task run through Django's task API (its TaskResult), and never deletes it: one
per task, in the SQLite queue file or in Redis's memory. A job's outcome is on its Job row, so the record of the
task that ran it is forgotten as soon as the task finishes. Other tasks keep theirs, for `get_result`."""

import logging

from django.db import DatabaseError
from django.dispatch import receiver
from django.tasks.signals import task_finished
from huey.contrib.djhuey import HUEY
from huey.contrib.djhuey.tasks_backend import KEY as RESULT_KEY
from huey.contrib.djhuey.tasks_backend import HueyBackend

from .models import Job

logger = logging.getLogger(__name__)


@receiver(task_finished, sender=HueyBackend)
def job_task_result_forget(sender, task_result, **kwargs):
    args = task_result.args
    try:
        ran_a_job = len(args) == 1 and Job.objects.filter(pk=args[0], task=task_result.task.module_path).exists()
    except DatabaseError as error:  # the database is away: the record stays, as a task's record does
        logger.warning("task %s: its record is kept, the database does not answer: %s", task_result.id, error)
        return
    if ran_a_job:
        HUEY.delete(RESULT_KEY % task_result.id)
