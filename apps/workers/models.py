from django.db import models


class Job(models.Model):
    """One unit of background work, the worker process holding it, and its outcome.

    The task queue only carries a job's id. The queue can lose a task (a worker killed after taking it, a flushed
    queue), so the database is what says which work is left: recovery finds queued jobs nobody runs and running
    jobs whose worker died, and enqueues them again. Work is written only by the worker that holds the job at
    commit time (`job_complete`), so a job run twice still counts once.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"  # ready for a worker (its task may or may not be in the queue)
        HELD = "held"  # not to run until released (its experiment is paused)
        RUNNING = "running"  # claimed by `worker`, alive while `heartbeat_at` moves
        DONE = "done"
        DROPPED = "dropped"  # no longer wanted: a late client, a cancelled experiment
        FAILED = "failed"

    key = models.CharField(max_length=200, unique=True, help_text="what the work is, e.g. train/3/7/12")
    task = models.CharField(max_length=200, help_text="import path of the task that runs it with the job's id")
    priority = models.SmallIntegerField(default=0, help_text="higher runs first")
    experiment_id = models.BigIntegerField(null=True, blank=True)
    round_number = models.IntegerField(null=True, blank=True)
    clients = models.JSONField(null=True, blank=True, help_text="a training job's clients, in training order")
    after = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="followers",
        help_text="a job that must be done before this one may start",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="when to stop waiting for its inputs")
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process that holds or held it")
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status"], name="workers_job_status"),
            models.Index(fields=["experiment_id", "round_number"], name="workers_job_round"),
        ]

    def __str__(self):
        return f"{self.key} ({self.status})"
