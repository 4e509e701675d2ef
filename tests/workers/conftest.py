from dataclasses import dataclass
from datetime import datetime

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.workers import services


@dataclass
class Enqueued:
    job_id: int
    task: str
    run_after: datetime | None

    def due(self):
        return self.run_after is None or self.run_after <= timezone.now()


class InProcessQueue:
    """The task queue as a list in this process, run on demand. Only the queue is replaced: every task, job and
    database write is the real one, so tests can order, repeat, drop and interleave tasks at will."""

    def __init__(self):
        self.items = []

    def put(self, job, *, run_after=None):
        self.items.append(Enqueued(job.pk, job.task, run_after))

    def take(self, task_suffix=None):
        """Removes and returns the first due task (ending with task_suffix if given), or None."""
        for position, item in enumerate(self.items):
            if item.due() and (task_suffix is None or item.task.endswith(task_suffix)):
                return self.items.pop(position)
        return None

    def run(self, item):
        return import_string(item.task).call(item.job_id)

    def run_all(self, *, limit=10_000):
        """Runs due tasks in order (and those they enqueue) until none is due; returns how many ran."""
        for count in range(limit):
            item = self.take()
            if item is None:
                return count
            self.run(item)
        raise AssertionError(f"still running tasks after {limit}")

    def tasks(self):
        return [item.task.rsplit(".", 1)[1] for item in self.items]


@pytest.fixture
def queue(monkeypatch):
    in_process = InProcessQueue()
    monkeypatch.setattr(services, "_dispatch", in_process.put)
    return in_process
