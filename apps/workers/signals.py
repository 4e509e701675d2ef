"""Huey keeps a record of every task run through Django's task API (its TaskResult), and never deletes it: one
per task, in the SQLite queue file or in Redis's memory. A job's outcome is on its Job row, so the record of the
task that ran it is forgotten as soon as the task finishes. Other tasks keep theirs, for `get_result`."""

from django.dispatch import receiver
from django.tasks.signals import task_finished
from huey.contrib.djhuey import HUEY
from huey.contrib.djhuey.tasks_backend import KEY as RESULT_KEY
from huey.contrib.djhuey.tasks_backend import HueyBackend

from .models import Job


@receiver(task_finished, sender=HueyBackend)
def job_task_result_forget(sender, task_result, **kwargs):
    args = task_result.args
    if len(args) == 1 and Job.objects.filter(pk=args[0], task=task_result.task.module_path).exists():
        HUEY.delete(RESULT_KEY % task_result.id)
