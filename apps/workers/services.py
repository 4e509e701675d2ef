"""Jobs: claimed with a heartbeat, completed once, recovered when their worker dies.

A job goes queued -> running (claimed by one worker process) -> done, or is held, dropped or failed. SQLite has
no SKIP LOCKED, so a claim is a conditional UPDATE checked by its row count. Each claim adds one to `attempts`,
which fences the claim: completing is a conditional UPDATE on (running, the same attempts), made inside the
transaction that writes the job's outputs, so a worker whose claim was taken from it (recovered, dropped) writes
nothing. Huey removes a task from the queue before it runs, so a worker killed at the wrong moment loses it:
`jobs_recover` finds that work again from these rows and enqueues it anew.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core.process import process_alive, process_name

from .models import Job

logger = logging.getLogger(__name__)

QUEUED, HELD, RUNNING = Job.Status.QUEUED, Job.Status.HELD, Job.Status.RUNNING
DONE, DROPPED, FAILED = Job.Status.DONE, Job.Status.DROPPED, Job.Status.FAILED
UNFINISHED = (QUEUED, HELD, RUNNING)
RETRY_DELAY_SECONDS = 2  # before a job that hit a database error runs again
# How often a running job's heartbeat thread reads whether the job is still held (cancelled, paused, recovered),
# so work that asks `heartbeat.lost` between its steps stops within about this long.
CLAIM_CHECK_SECONDS = 0.5
DATABASE_ERRORS = (OperationalError, InterfaceError)  # the database busy, gone or unreachable
FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 0.25, 5.0


def database_wait():
    """Returns once the database answers again, waiting with a backoff (0.25 s doubling to 5 s) for up to
    settings.FEDCHAIN_DATABASE_WAIT seconds, then raising the last error. True when it did not answer at once (it
    was gone: an outage, not this work's doing). Closes this thread's broken connection first, so the next query
    connects afresh."""
    deadline = time.monotonic() + settings.FEDCHAIN_DATABASE_WAIT
    delay = FIRST_BACKOFF_SECONDS
    waited = False
    while True:
        if not connection.in_atomic_block:
            connection.close()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return waited
        except DATABASE_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            if not waited:
                logger.warning("the database does not answer (%s); waiting for it", str(error).strip())
            waited = True
            time.sleep(delay)
            delay = min(MAX_BACKOFF_SECONDS, 2 * delay)


def when_database_answers(function, *args, **kwargs):
    """function(*args, **kwargs), called again once the database answers (database_wait) when it raised a
    database error: for reads and writes that are safe to repeat."""
    try:
        return function(*args, **kwargs)
    except DATABASE_ERRORS:
        database_wait()
        return function(*args, **kwargs)


class ClaimLost(Exception):
    """This worker no longer holds the job (another worker recovered it, or it was dropped): write nothing."""


def _ready():
    """Jobs whose predecessor, if any, is done."""
    return Q(after__isnull=True) | Q(after__status=DONE)


def _dispatch(job, *, run_after=None):
    """Puts the job's task in the queue; with enqueue_on_commit, once the current transaction commits."""
    task = import_string(job.task)
    # Priorities only order the queue (Huey's SQLite storage has them, its plain Redis storage not).
    priority = job.priority if task.get_backend().supports_priority else None
    task.using(priority=priority, run_after=run_after).enqueue(job.pk)


def job_enqueue(job, *, run_after=None):
    """Enqueues the job's task and notes when (recovery enqueues again what waits too long)."""
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    _dispatch(job, run_after=run_after)


def job_create(*, key, task, priority=0, experiment_id=None, round_number=None, clients=None, after=None,
               status=QUEUED, deadline_at=None, run_after=None):
    """The job with this key; a new one is enqueued when the transaction commits (to run after `run_after`, if
    given) if it can start (its `after` job is done). Creating a key twice returns the first job: callers can
    repeat themselves safely. Inside a transaction it takes no savepoint of its own (nor do jobs_create and
    job_complete): an error undoes the caller's transaction too."""
    with transaction.atomic(savepoint=False):
        if after is not None:
            # Locked so that `after` cannot complete unseen between this check and our commit (PostgreSQL).
            after = Job.objects.select_for_update().get(pk=after.pk)
        startable = status == QUEUED and (after is None or after.status == DONE)
        job, created = Job.objects.get_or_create(
            key=key,
            defaults={
                "task": task,
                "priority": priority,
                "experiment_id": experiment_id,
                "round_number": round_number,
                "clients": clients,
                "after": after,
                "status": status,
                "deadline_at": deadline_at,
                "enqueued_at": timezone.now() if startable else None,
            },
        )
        if created and startable:
            _dispatch(job, run_after=run_after)
    return job


def jobs_create(jobs):
    """Creates the unsaved jobs (none with an `after` job) whose keys are not taken yet, in one statement, and
    enqueues the queued ones when the transaction commits. Returns the jobs of those keys, old and new."""
    with transaction.atomic(savepoint=False):
        taken = {job.key: job for job in Job.objects.filter(key__in=[job.key for job in jobs])}
        new = [job for job in jobs if job.key not in taken]
        now = timezone.now()
        for job in new:
            assert job.after_id is None, "jobs_create creates jobs that wait for no other job"
            job.enqueued_at = now if job.status == QUEUED else None
        Job.objects.bulk_create(new)
        for job in new:
            if job.status == QUEUED:
                _dispatch(job)
    return [taken.get(job.key, job) for job in jobs]


def job_claim(job_id):
    """Claims a queued job for this worker process; None when it is not there to take (running elsewhere, held,
    finished, or waiting for its `after` job)."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=QUEUED)
        .filter(_ready())
        .update(status=RUNNING, worker=process_name(), heartbeat_at=now, attempts=F("attempts") + 1)
    )
    return Job.objects.get(pk=job_id) if claimed else None


def _job_claim_answered(job_id):
    """job_claim, tried again once the database answers when it raised a database error. The first try's UPDATE
    may have been committed with only its answer lost (the database went away in between): the job is then
    running under this process's name, with no one working on it, since a worker process runs one job at a time.
    It is this process's claim, and it is taken up, instead of lying idle until recovery finds its heartbeat stale."""
    try:
        return job_claim(job_id)
    except DATABASE_ERRORS:
        database_wait()
        return job_claim(job_id) or Job.objects.filter(pk=job_id, status=RUNNING, worker=process_name()).first()


def _held_by_us(job):
    return Job.objects.filter(pk=job.pk, status=RUNNING, attempts=job.attempts)


def job_held(job):
    """Whether this worker still holds the claimed job (not dropped, held or recovered since)."""
    return _held_by_us(job).exists()


def job_complete(job, *, result=None, followed=True):
    """Marks the claimed job done and enqueues the jobs waiting for it (none to look for when `followed` is
    false: a kind of job that no job is created `after`). Call it inside the transaction that writes the job's
    outputs: it raises ClaimLost, rolling them back, when this worker no longer holds the job."""
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        if not _held_by_us(job).update(status=DONE, result=result, finished_at=now, heartbeat_at=now):
            raise ClaimLost(f"job {job.key} is no longer held by {job.worker}")
        if followed:
            for follower in Job.objects.filter(after=job, status=QUEUED):
                job_enqueue(follower)


def job_release(job, *, status=QUEUED, error="", **changes):
    """Gives a claimed job back (queued to run again, or held) or ends it (dropped, failed), with any other
    changes to its fields. False when this worker no longer held it."""
    ended = status in (DROPPED, FAILED)
    return bool(
        _held_by_us(job).update(
            status=status, error=error[:2000], finished_at=timezone.now() if ended else None, **changes
        )
    )


def jobs_hold(jobs):
    """Queued and running jobs of the queryset wait (held) until `jobs_release_held`. A worker running one loses
    its claim: it stops (see Heartbeat) and writes nothing, and the job runs again from its start once released."""
    return jobs.filter(status__in=(QUEUED, RUNNING)).update(status=HELD)


def jobs_release_held(jobs):
    """Held jobs of the queryset are queued again and enqueued."""
    held = list(jobs.filter(status=HELD))
    Job.objects.filter(pk__in=[job.pk for job in held], status=HELD).update(status=QUEUED)
    for job in held:
        if job.after_id is None or job.after.status == DONE:
            job_enqueue(job)
    return len(held)


def jobs_drop(jobs, *, reason):
    """Unfinished jobs of the queryset are dropped; a worker running one loses its claim and writes nothing."""
    return jobs.filter(status__in=UNFINISHED).update(status=DROPPED, error=reason[:2000], finished_at=timezone.now())


class Heartbeat:
    """Keeps a claim alive from a thread while the work runs. `lost` turns true within CLAIM_CHECK_SECONDS once
    the claim is gone (the job was dropped, held or recovered), so long work (mining, training) asks it between
    its steps and stops; completing fails then anyway."""

    def __init__(self, job, *, interval=None):
        self.job = job
        self.interval = settings.FEDCHAIN_HEARTBEAT_SECONDS if interval is None else interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {job.key}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _beat(self):
        last_beat = time.monotonic()
        try:
            while not self._stop.wait(min(self.interval, CLAIM_CHECK_SECONDS)):
                try:
                    if time.monotonic() - last_beat >= self.interval:
                        held = _held_by_us(self.job).update(heartbeat_at=timezone.now())
                        last_beat = time.monotonic()
                    else:
                        held = job_held(self.job)
                    if not held:
                        self.lost = True
                        return
                except DatabaseError as error:
                    logger.warning("heartbeat of job %s failed, retrying: %s", self.job.key, str(error).strip())
                    connection.close()  # broken: the next beat connects afresh
        finally:
            connection.close()  # this thread's own connection


def job_run(job_id, work, *, on_failure=None):
    """Claims the job and runs work(job, heartbeat), returning what it returns; None when the job was not there
    to take or the claim was lost. A database error gives the job back to run again, once the database answers:
    always when the database was gone (an outage), else (the database busy) up to settings.FEDCHAIN_JOB_ATTEMPTS
    claims. Any other error fails the job and calls on_failure(job, error)."""
    job = _job_claim_answered(job_id)
    if job is None:
        return None
    try:
        with Heartbeat(job) as heartbeat:
            return work(job, heartbeat)
    except ClaimLost as lost:
        logger.info("%s", lost)
    except DATABASE_ERRORS as error:
        outage = database_wait()
        if outage or job.attempts < settings.FEDCHAIN_JOB_ATTEMPTS:
            logger.warning("job %s hit a database error, running it again: %s", job.key, str(error).strip())
            with transaction.atomic():
                if job_release(job, error=str(error)):
                    job_enqueue(job, run_after=timezone.now() + timedelta(seconds=RETRY_DELAY_SECONDS))
            return None
        _job_fail(job, error, on_failure)
    except Exception as error:
        _job_fail(job, error, on_failure)
    return None


def _job_fail(job, error, on_failure):
    message = str(error) or type(error).__name__
    logger.exception("job %s failed: %s", job.key, message)
    if job_release(job, status=FAILED, error=message) and on_failure is not None:
        on_failure(job, message)


def jobs_recover(*, requeue_before=None, in_queue=frozenset()):
    """Finds the work the queue may have lost and enqueues it again:

    - running jobs whose worker has ended (same host) or whose heartbeat is older than
      settings.FEDCHAIN_CLAIM_TIMEOUT go back to queued;
    - queued jobs that can start, were last enqueued before `requeue_before` (default:
      settings.FEDCHAIN_REQUEUE_AFTER seconds ago) and are not among `in_queue` (the ids of the jobs whose task is
      known to wait in the queue: a long backlog is not enqueued twice) are enqueued again.

    Safe to run anywhere, any time, concurrently: a job is re-enqueued by one recovery only, and a task that
    finds its job taken or finished does nothing. Returns the counts."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.FEDCHAIN_CLAIM_TIMEOUT)
    reclaimed = 0
    for job in Job.objects.filter(status=RUNNING).only("pk", "key", "worker", "attempts", "heartbeat_at"):
        if job.heartbeat_at is None or job.heartbeat_at < stale or not process_alive(job.worker):
            logger.warning("job %s was held by %s, which is gone: running it again", job.key, job.worker)
            reclaimed += _held_by_us(job).update(status=QUEUED, enqueued_at=None, error=f"recovered from {job.worker}")
    if requeue_before is None:
        requeue_before = now - timedelta(seconds=settings.FEDCHAIN_REQUEUE_AFTER)
    waiting = (
        Job.objects.filter(status=QUEUED)
        .filter(_ready())
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before))
    )
    requeued = 0
    for job in waiting.exclude(pk__in=in_queue):
        if Job.objects.filter(pk=job.pk, status=QUEUED, enqueued_at=job.enqueued_at).update(enqueued_at=now):
            _dispatch(job)
            requeued += 1
    return {"reclaimed": reclaimed, "requeued": requeued}
