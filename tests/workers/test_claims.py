"""Jobs are claimed by one worker at a time, and only the worker holding a job at commit time writes its outputs."""

import time

import pytest
from django.db import OperationalError, transaction

from apps.events.models import Event
from apps.events.services import event_emit
from apps.workers import services
from apps.workers.models import Job
from apps.workers.services import (
    ClaimLost,
    Heartbeat,
    job_claim,
    job_complete,
    job_create,
    job_run,
    jobs_recover,
)

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "apps.core.tasks.worker_identity"  # any importable task: these tests run the work themselves


def make(key="work/1", **fields):
    return job_create(key=key, task=TASK, **fields)


def test_a_job_is_claimed_once_and_creating_its_key_again_returns_it(queue):
    job = make()
    assert make().pk == job.pk and len(queue.items) == 1  # enqueued once
    first = job_claim(job.pk)
    assert first is not None and first.status == Job.Status.RUNNING and first.attempts == 1
    assert first.worker.endswith(f":{__import__('os').getpid()}")
    assert job_claim(job.pk) is None


def test_completion_writes_outputs_only_for_the_worker_still_holding_the_job(queue):
    job = make()
    stale_claim = job_claim(job.pk)
    # Its worker is presumed dead: recovery hands the job to another claim.
    Job.objects.filter(pk=job.pk).update(worker="elsewhere:1", heartbeat_at=None)
    jobs_recover()
    current_claim = job_claim(job.pk)
    assert current_claim.attempts == 2

    with pytest.raises(ClaimLost):
        with transaction.atomic():
            event_emit(type="experiment", payload={"written by": "the stale claim"})
            job_complete(stale_claim, result={"by": "stale"})
    assert not Event.objects.exists()  # rolled back with the failed completion

    with transaction.atomic():
        event_emit(type="experiment", payload={"written by": "the current claim"})
        job_complete(current_claim, result={"by": "current"})
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.result == {"by": "current"}
    assert Event.objects.get().payload == {"written by": "the current claim"}


def test_a_job_waits_for_the_job_it_comes_after(queue):
    first = make("work/1")
    second = make("work/2", after=first)
    assert [item.job_id for item in queue.items] == [first.pk]  # the second cannot start yet
    assert job_claim(second.pk) is None
    claim = job_claim(first.pk)
    with transaction.atomic():
        job_complete(claim)
    assert [item.job_id for item in queue.items] == [first.pk, second.pk]
    assert job_claim(second.pk) is not None


def test_a_job_created_after_the_one_it_waits_for_is_done_is_enqueued_at_once(queue):
    first = make("work/1")
    with transaction.atomic():
        job_complete(job_claim(first.pk))
    second = make("work/2", after=first)
    assert [item.job_id for item in queue.items] == [first.pk, second.pk]


def test_the_heartbeat_moves_while_work_runs_and_notices_a_lost_claim(queue):
    job = job_claim(make().pk)
    with Heartbeat(job, interval=0.05) as heartbeat:
        time.sleep(0.3)
        beaten = Job.objects.get(pk=job.pk).heartbeat_at
        assert beaten > job.heartbeat_at and not heartbeat.lost
        Job.objects.filter(pk=job.pk).update(status=Job.Status.DROPPED)
        deadline = time.monotonic() + 5
        while not heartbeat.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heartbeat.lost


def test_a_database_error_gives_the_job_back_and_other_errors_fail_it(queue, settings):
    settings.FEDCHAIN_JOB_ATTEMPTS = 2
    failures = []

    def busy(job, heartbeat):
        raise OperationalError("database is locked")

    job = make()
    assert job_run(job.pk, busy, on_failure=lambda *args: failures.append(args)) is None
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.error == "database is locked" and not failures
    assert queue.items[-1].run_after is not None  # tried again a little later

    job_run(job.pk, busy, on_failure=lambda *args: failures.append(args))
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and len(failures) == 1  # out of attempts

    def broken(job, heartbeat):
        raise ValueError("the shard is empty")

    other = make("work/2")
    job_run(other.pk, broken, on_failure=lambda job, error: failures.append((job.key, error)))
    other.refresh_from_db()
    assert other.status == Job.Status.FAILED and other.error == "the shard is empty"
    assert failures[-1] == ("work/2", "the shard is empty")


def test_a_job_hit_by_a_database_outage_runs_again_whatever_its_attempts(queue, settings, monkeypatch):
    settings.FEDCHAIN_JOB_ATTEMPTS = 1
    failures = []

    def gone(job, heartbeat):
        raise OperationalError("server closed the connection unexpectedly")

    job = make()
    assert services.database_wait() is False  # the database answers: nothing to wait for
    monkeypatch.setattr(services, "database_wait", lambda: True)  # it was gone, and is back
    job_run(job.pk, gone, on_failure=lambda *args: failures.append(args))
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.attempts == 1 and not failures


def test_a_read_that_meets_a_database_error_is_made_again_once_the_database_answers(monkeypatch):
    waits, calls = [], []
    monkeypatch.setattr(services, "database_wait", lambda: waits.append(1))

    def read():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the database system is starting up")
        return "rows"

    assert services.when_database_answers(read) == "rows" and len(calls) == 2 and len(waits) == 1


def first_claim_answer_lost(monkeypatch, *, committed):
    """job_claim's first call raises as if the database went away, after its UPDATE committed or not."""
    claim, calls = services.job_claim, []

    def answer_lost(job_id):
        calls.append(job_id)
        if len(calls) > 1:
            return claim(job_id)
        if committed:
            claim(job_id)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "job_claim", answer_lost)
    monkeypatch.setattr(services, "database_wait", lambda: True)


def completing(ran):
    def work(claimed, heartbeat):
        ran.append(claimed.attempts)
        job_complete(claimed)
        return "done"

    return work


def test_a_claim_committed_as_the_database_went_away_is_taken_up_once_it_answers(queue, monkeypatch):
    """The claim's UPDATE was committed, its answer lost: the job runs now, not after recovery finds it stale."""
    first_claim_answer_lost(monkeypatch, committed=True)
    job, ran = make(), []
    assert job_run(job.pk, completing(ran)) == "done" and ran == [1]
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.attempts == 1


def test_a_claim_lost_with_the_database_is_made_again(queue, monkeypatch):
    first_claim_answer_lost(monkeypatch, committed=False)
    job, ran = make(), []
    assert job_run(job.pk, completing(ran)) == "done" and ran == [1]


def test_another_processs_claim_is_not_taken_up_after_an_outage(queue, monkeypatch):
    first_claim_answer_lost(monkeypatch, committed=False)
    job, ran = make(), []
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, worker="elsewhere:1", attempts=1)
    assert job_run(job.pk, completing(ran)) is None and ran == []
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.worker == "elsewhere:1"
