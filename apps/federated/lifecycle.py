"""An experiment's life in the background workers: start, pause, resume, cancel, and the work in between.

Experiments run as jobs (apps.workers) that worker processes claim, keyed by what they do:

    round/E/R          created with the train jobs of the round's sampled clients; once all of them are in (or
                       the round's deadline has passed: the late ones are dropped), aggregates and records the
                       round in ONE transaction together with: the round job done, round/E/R+1 with its train jobs
                       (or finish/E), and mine/E/R
    train/E/R/B        batch B of round R's clients, trained one after the other from the previous global model
                       (read once); their updates go to the blob store in one statement, their metadata to the
                       job's result, in one transaction

A round has 2 train jobs per worker process of the deployment (settings.FEDCHAIN_CLUSTER_WORKERS), or one per
client when it has fewer clients than that: every worker has work, a worker that is also mining leaves its share
to the others, and a killed worker loses at most one batch's training, which runs again. What a job costs the
database (claim, heartbeat, completion, its event) is paid per batch, not per client.
    mine/E/R           after mine/E/R-1: puts the round's ledger batch on the chain (blocks of an experiment are
                       mined in round order: round R's coinbase commits round R-1's global model)
    finish/E           after the last mine job: the experiment is finished

Rounds overlap with mining: round R is mined while round R+1 trains or is aggregated (see PRIORITY). Status:
queued -> running -> finished; running <-> paused; queued, running or paused -> cancelled, or failed with the
reason. Pausing holds the experiment's train and round jobs, cancelling drops them: a worker running one loses
its claim, notices within half a second (its heartbeat reads the claim; training asks between minibatches),
stops and writes nothing; a held job runs again from its start once resumed. Rounds already recorded are mined
whatever the status, so the chain holds every recorded round.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.events.models import Event
from apps.events.services import event_emit
from apps.ledger.models import Block, PendingBatch
from apps.ledger.mining import MiningProgress, batch_mine_to_chain
from apps.workers.models import Job
from apps.workers.services import (
    UNFINISHED,
    ClaimLost,
    job_complete,
    job_create,
    job_enqueue,
    job_held,
    job_release,
    job_run,
    jobs_create,
    jobs_drop,
    jobs_hold,
    jobs_release_held,
    when_database_answers,
)

from .engine import federation_for
from .models import Experiment, Round
from .selectors import experiment_payload
from .training import TrainingStopped
from .services import (
    client_updates_load,
    client_updates_store,
    clients_train,
    experiment_create,
    experiment_next_round,
    experiment_status_set,
    round_aggregate,
    round_initial,
    round_record_aggregated,
)

Status = Experiment.Status

TRAIN, ROUND, MINE, FINISH = "train", "round", "mine", "finish"
TASKS = {
    TRAIN: "apps.federated.tasks.train_client",
    ROUND: "apps.federated.tasks.run_round",
    MINE: "apps.federated.tasks.mine_round",
    FINISH: "apps.federated.tasks.finish_experiment",
}
# A round's aggregation gates the next round and the chain: it goes before anything waiting. Mining and training
# share a priority, so the queue takes them first in, first out: round R's mine job, queued after round R+1's
# train jobs, goes to the first worker left with no client to train, in the time another worker trains its last
# clients or aggregates the round; and it never waits behind work queued after it (other experiments' training).
PRIORITY = {ROUND: 20, FINISH: 20, MINE: 0, TRAIN: 0}
LEARNING = (TRAIN, ROUND)
TRAIN_JOBS_PER_WORKER = 2


class LifecycleError(Exception):
    """The experiment's status does not allow the change asked for; the message says why."""


def _key(kind, *parts):
    return "/".join([kind, *map(str, parts)])


def _job(kind, *parts, after=None, status=Job.Status.QUEUED, **extra):
    experiment_id, round_number = (list(parts) + [None])[:2]
    return job_create(
        key=_key(kind, *parts),
        task=TASKS[kind],
        priority=PRIORITY[kind],
        experiment_id=experiment_id,
        round_number=round_number,
        after=after,
        status=status,
        **extra,
    )


def _experiment_jobs(experiment_id, kinds):
    return Job.objects.filter(experiment_id=experiment_id, task__in=[TASKS[kind] for kind in kinds])


def _round_jobs(experiment_id, number, kind):
    return Job.objects.filter(experiment_id=experiment_id, round_number=number, task=TASKS[kind])


def _transition(experiment, *, allowed, to, action, error=""):
    """Moves the experiment to `to` if its current status is in `allowed`, else raises LifecycleError."""
    with transaction.atomic():
        current = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if current.status not in allowed:
            raise LifecycleError(
                f"experiment {current.pk} is {current.status}: only a {' or '.join(allowed)} experiment can be {action}"
            )
        return experiment_status_set(experiment=current, status=to, error=error)


# --- what users do -------------------------------------------------------------------------------------------


def experiment_start(*, experiment):
    """Queued -> running: the experiment's remaining rounds run in the worker processes."""
    with transaction.atomic():
        experiment = _transition(experiment, allowed=[Status.QUEUED], to=Status.RUNNING, action="started")
        # Rounds recorded but not yet mined (an interrupted foreground run) go to the chain first.
        for number in PendingBatch.objects.filter(
            experiment_id=experiment.pk, status=PendingBatch.Status.PENDING
        ).order_by("round_number").values_list("round_number", flat=True):
            _mine_job(experiment.pk, number)
        _round_next(experiment, experiment_next_round(experiment))
    return experiment


def experiment_launch(*, name="", **settings):
    """Creates the experiment (validated; raises ValidationError) and starts it in the worker processes.
    Its first tasks are enqueued once this transaction commits."""
    with transaction.atomic():
        experiment = experiment_create(name=name, **settings)
        return experiment_start(experiment=experiment)


def experiment_pause(*, experiment):
    """Running -> paused: training and aggregation stop, running ones within a second, until resumed."""
    with transaction.atomic():
        experiment = _transition(experiment, allowed=[Status.RUNNING], to=Status.PAUSED, action="paused")
        jobs_hold(_experiment_jobs(experiment.pk, LEARNING))
    return experiment


def experiment_resume(*, experiment):
    """Paused -> running: held work is queued again; a round waiting for clients gets a fresh deadline."""
    with transaction.atomic():
        experiment = _transition(experiment, allowed=[Status.PAUSED], to=Status.RUNNING, action="resumed")
        jobs = _experiment_jobs(experiment.pk, LEARNING)
        waiting = list(jobs.filter(task=TASKS[ROUND], status=Job.Status.HELD, deadline_at__isnull=False))
        deadline = _deadline()
        Job.objects.filter(pk__in=[job.pk for job in waiting]).update(deadline_at=deadline)
        jobs_release_held(jobs)
        for job in waiting:
            job_enqueue(job, run_after=deadline)
    return experiment


def experiment_cancel(*, experiment):
    """Queued, running or paused -> cancelled: its training and aggregation stop (what runs writes nothing).
    Rounds already recorded are still mined."""
    with transaction.atomic():
        experiment = _transition(
            experiment, allowed=[Status.QUEUED, Status.RUNNING, Status.PAUSED], to=Status.CANCELLED, action="cancelled"
        )
        jobs_drop(_experiment_jobs(experiment.pk, [*LEARNING, FINISH]), reason="the experiment was cancelled")
    return experiment


def _experiment_fail(job, error):
    """A job of the experiment failed for good: the experiment fails with the reason."""
    if job.clients is not None:
        what = f"round {job.round_number}, clients {_span(job.clients)}"
    elif job.task == TASKS[MINE]:
        what = f"mining round {job.round_number}"
    else:
        what = f"round {job.round_number}"
    reason = f"{what}: {error}"
    experiment = Experiment.objects.filter(pk=job.experiment_id).first()
    if experiment is None:
        return
    with transaction.atomic():
        try:
            _transition(
                experiment, allowed=[Status.QUEUED, Status.RUNNING, Status.PAUSED], to=Status.FAILED, action="failed",
                error=reason,
            )
        except LifecycleError:
            return  # already ended
        jobs_drop(_experiment_jobs(experiment.pk, [*LEARNING, FINISH]), reason=f"the experiment failed: {reason}")


# --- the jobs ------------------------------------------------------------------------------------------------


def _deadline():
    return timezone.now() + timedelta(seconds=settings.FEDCHAIN_ROUND_DEADLINE)


def _round_next(experiment, number, *, held=False):
    """Queues round `number` (held while the experiment is paused) with its clients' training, or, when every
    round is recorded, the finish job (after the last block)."""
    last = experiment.config().rounds_to_run  # fewer than `rounds` when a privacy budget stops the run
    if number == 0:
        return _job(ROUND, experiment.pk, 0)
    if number <= last:
        sampled = _round_sampled(experiment, number)
        status = Job.Status.HELD if held else Job.Status.QUEUED
        deadline = _deadline()
        _round_clients_send(experiment, number, sampled, status)
        # Woken at its deadline at the latest; a DP round's Poisson sample may be empty: nothing to wait for then.
        return _job(ROUND, experiment.pk, number, status=status, deadline_at=deadline,
                    run_after=deadline if sampled else None)
    last_mine = Job.objects.filter(key=_key(MINE, experiment.pk, last)).first()
    return _job(FINISH, experiment.pk, after=last_mine)


def _round_sampled(experiment, number):
    return [int(index) for index in federation_for(experiment.config()).round_clients(number)]


def _round_clients_send(experiment, number, sampled, status):
    """Creates the train jobs of round `number`'s sampled clients (queued or held: `status`) and says so."""
    batches = train_batches(sampled, settings.FEDCHAIN_CLUSTER_WORKERS)
    jobs_create([
        Job(key=_key(TRAIN, experiment.pk, number, position), task=TASKS[TRAIN], priority=PRIORITY[TRAIN],
            experiment_id=experiment.pk, round_number=number, clients=clients, status=status)
        for position, clients in enumerate(batches)
    ])
    event_emit(
        type=Event.Type.EXPERIMENT,
        payload={
            **experiment_payload(experiment),
            "progress": _progress(experiment, number, clients_sampled=len(sampled), clients_done=0),
        },
        experiment_id=experiment.pk,
    )
    return batches


def _mine_job(experiment_id, number):
    previous = Job.objects.filter(key=_key(MINE, experiment_id, number - 1)).first()
    return _job(MINE, experiment_id, number, after=previous)


def _status_for_update(experiment):
    return Experiment.objects.select_for_update().values_list("status", flat=True).get(pk=experiment.pk)


def _progress(experiment, number, **extra):
    return {"experiment": experiment.pk, "round": number, "rounds": experiment.rounds, **extra}


def _span(clients):
    return ", ".join(map(str, clients)) if len(clients) <= 3 else f"{clients[0]}, ..., {clients[-1]} ({len(clients)})"


def train_batches(sampled, workers):
    """The round's sampled clients split into train jobs: TRAIN_JOBS_PER_WORKER per worker process, at most one
    per client, their sizes differing by one at most, clients in sampled order."""
    jobs = max(1, min(len(sampled), TRAIN_JOBS_PER_WORKER * workers))
    size, extra = divmod(len(sampled), jobs)
    batches, start = [], 0
    for index in range(jobs):
        stop = start + size + (index < extra)
        batches.append(sampled[start:stop])
        start = stop
    return batches


def clients_train_run(job_id):
    """Trains a batch of a round's clients (a train job) in this process."""
    return job_run(job_id, _clients_train, on_failure=_experiment_fail)


def _clients_train(job, heartbeat):
    experiment = Experiment.objects.get(pk=job.experiment_id)
    with _stops_when_lost(job):
        trained = clients_train(experiment=experiment, round_number=job.round_number, client_indices=job.clients,
                                should_stop=lambda: heartbeat.lost)
    with transaction.atomic():
        updates = client_updates_store(trained)
        # Locked: the round's last two batches cannot both miss that they complete it (PostgreSQL).
        round_job = Job.objects.select_for_update().get(key=_key(ROUND, job.experiment_id, job.round_number))
        job_complete(job, result={"updates": updates}, followed=False)  # no job waits for a train job
        done, sampled = _training_counts(job.experiment_id, job.round_number)
        event_emit(
            type=Event.Type.CLIENT_UPDATE,
            payload=_progress(experiment, job.round_number, status="trained", clients=job.clients,
                              clients_done=done, clients_sampled=sampled),
            experiment_id=experiment.pk,
        )
        if done == sampled and round_job.status == Job.Status.QUEUED:
            job_enqueue(round_job)
    return {"clients": len(updates)}


@contextmanager
def _stops_when_lost(job):
    try:
        yield
    except TrainingStopped:
        raise ClaimLost(f"job {job.key} stopped training: its claim is gone") from None


def _training_counts(experiment_id, number, *, finished=(Job.Status.DONE,)):
    """(clients in the round's train jobs that are `finished`, clients in all of them)."""
    done = sampled = 0
    for status, clients in _round_jobs(experiment_id, number, TRAIN).values_list("status", "clients"):
        sampled += len(clients)
        done += len(clients) if status in finished else 0
    return done, sampled


def round_run(job_id):
    """Advances a round (a round job): fans out its clients' training, and once they are in (or the deadline has
    passed) aggregates and records it. Safe to call again and again: it does what the database says is left."""
    job = when_database_answers(Job.objects.filter(pk=job_id).first)
    if job is None or job.status != Job.Status.QUEUED:
        return None
    if job.round_number > 0 and job.deadline_at is None:
        # A round job that has not sent its clients out (one created by an earlier release): it does so first.
        return job_run(job_id, _round_fan_out, on_failure=_experiment_fail)
    if not when_database_answers(_round_ready, job):
        return None
    return job_run(job_id, _round_complete, on_failure=_experiment_fail)


def _round_fan_out(job, heartbeat):
    experiment = Experiment.objects.get(pk=job.experiment_id)
    sampled = _round_sampled(experiment, job.round_number)
    deadline = _deadline()
    with transaction.atomic():
        held = _status_for_update(experiment) == Status.PAUSED
        status = Job.Status.HELD if held else Job.Status.QUEUED
        # Back to waiting, now for its clients or its deadline.
        if not job_release(job, status=status, deadline_at=deadline):
            raise ClaimLost(f"job {job.key} is no longer held by {job.worker}")
        batches = _round_clients_send(experiment, job.round_number, sampled, status)
        if not held:
            job_enqueue(job, run_after=deadline if sampled else None)
    return {"round": job.round_number, "clients": sampled, "train_jobs": len(batches)}


def _round_ready(job):
    if job.round_number == 0:
        return True
    ended, sampled = _training_counts(job.experiment_id, job.round_number, finished=(Job.Status.DONE, Job.Status.DROPPED))
    if sampled == 0:
        return True  # fanned out to no client (an empty DP sample)
    if ended == sampled:
        return True
    return _training_counts(job.experiment_id, job.round_number)[0] > 0 and timezone.now() >= job.deadline_at


def _round_complete(job, heartbeat):
    experiment = Experiment.objects.get(pk=job.experiment_id)
    number = job.round_number
    if number == 0:
        outcome = round_initial(experiment=experiment)
    else:
        trainings = _round_jobs(experiment.pk, number, TRAIN)
        with transaction.atomic():
            if not job_held(job):
                raise ClaimLost(f"job {job.key} is no longer held by {job.worker}")
            # From here on the round's set of updates is fixed: a client finishing later writes nothing.
            late = list(trainings.filter(status__in=UNFINISHED).values_list("clients", flat=True))
            jobs_drop(trainings, reason="late: the round's deadline passed before its training finished")
            if late:
                event_emit(
                    type=Event.Type.CLIENT_UPDATE,
                    payload=_progress(experiment, number, clients=sorted(c for batch in late for c in batch),
                                      status="dropped"),
                    experiment_id=experiment.pk,
                )
        done = trainings.filter(status=Job.Status.DONE).values_list("result", flat=True)
        updates = client_updates_load([update for result in done for update in result["updates"]])
        with _stops_when_lost(job):
            outcome = round_aggregate(experiment=experiment, round_number=number, updates=updates,
                                      should_stop=lambda: heartbeat.lost)
    with transaction.atomic():
        round_row = round_record_aggregated(experiment=experiment, outcome=outcome)
        result = {"round": number, "global_model": round_row.global_model_hash, "updates": len(outcome.updates)}
        job_complete(job, result=result)
        held = _status_for_update(experiment) == Status.PAUSED
        if number < experiment.config().rounds_to_run:
            _round_next(experiment, number + 1, held=held)
            _mine_job(experiment.pk, number)  # queued after the next round's training (see PRIORITY)
        else:
            _mine_job(experiment.pk, number)
            _round_next(experiment, number + 1)  # the finish job, after that mine job
    return result


def round_mine_run(job_id):
    """Mines a recorded round's ledger batch (a mine job) in this process."""
    return job_run(job_id, job_batch_mine, on_failure=_experiment_fail)


def job_batch_mine(job, heartbeat):
    """The body of a job that mines the ledger batch of its experiment and round onto the main chain: this
    node's mine jobs, and the shared mining of a peer's rounds (apps.network.mining) alike. Stops when the job's
    claim is lost."""
    batch = PendingBatch.objects.get(experiment_id=job.experiment_id, round_number=job.round_number)
    block = batch_mine_to_chain(batch=batch, should_stop=lambda: heartbeat.lost, on_progress=MiningProgress(batch))
    if block is None:
        raise ClaimLost(f"job {job.key} stopped mining: its claim is gone")
    result = {"height": block.height, "hash": block.hash}
    with transaction.atomic():
        job_complete(job, result=result)
    return result


def experiment_finish_run(job_id):
    """Marks the experiment finished (the finish job, which runs once its last round is on the chain)."""
    return job_run(job_id, _experiment_finish, on_failure=_experiment_fail)


FINISH_RECHECK_SECONDS = 2


def _rounds_confirmed(experiment) -> bool:
    """Every recorded round is on the main chain (a reorganisation may have taken some off until they are mined
    again) and the last is under settings.FEDCHAIN_CONFIRMATIONS blocks."""
    rounds = Round.objects.filter(experiment=experiment).count()
    on_chain = Block.objects.filter(status=Block.Status.MAIN, experiment_id=experiment.pk)
    last = on_chain.order_by("-height").first()
    if on_chain.count() != rounds or last is None:
        return False
    tip = Block.objects.filter(status=Block.Status.MAIN).order_by("-height").values_list("height", flat=True).first()
    return tip - last.height >= settings.FEDCHAIN_CONFIRMATIONS


def _experiment_finish(job, heartbeat):
    experiment = Experiment.objects.get(pk=job.experiment_id)
    if not _rounds_confirmed(experiment):
        # Looked at again shortly, without holding a worker meanwhile.
        with transaction.atomic():
            if job_release(job):
                job_enqueue(job, run_after=timezone.now() + timedelta(seconds=FINISH_RECHECK_SECONDS))
        return None
    with transaction.atomic():
        job_complete(job)
        try:
            _transition(experiment, allowed=[Status.RUNNING, Status.PAUSED], to=Status.FINISHED, action="finished")
        except LifecycleError:
            return None  # cancelled or failed meanwhile: it stays so
    return {"finished": experiment.pk, "rounds": Round.objects.filter(experiment=experiment).count()}


# --- reading ---------------------------------------------------------------------------------------------------


def experiment_progress(experiment):
    """Where the experiment is (JSON-ready): its status, the last round recorded and the last on the chain, and
    the round in training with its clients done."""
    recorded = Round.objects.filter(experiment=experiment).order_by("-number").values_list("number", flat=True).first()
    mined = (
        PendingBatch.objects.filter(experiment_id=experiment.pk, status=PendingBatch.Status.MINED)
        .order_by("-round_number")
        .values_list("round_number", flat=True)
        .first()
    )
    training = None
    round_job = (
        _experiment_jobs(experiment.pk, [ROUND])
        .filter(status__in=UNFINISHED)
        .order_by("-round_number")
        .first()
    )
    if round_job is not None and round_job.round_number > 0:
        done, sampled = _training_counts(experiment.pk, round_job.round_number)
        training = {"round": round_job.round_number, "clients_done": done, "clients_sampled": sampled}
    return {
        "experiment": experiment.pk,
        "status": experiment.status,
        "error": experiment.error,
        "rounds": experiment.rounds,
        "recorded": recorded,
        "mined": mined,
        "training": training,
    }
