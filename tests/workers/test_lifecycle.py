"""Start, pause, resume, cancel and failure: what each status allows and what the workers do then."""

import pytest

from apps.events.models import Event
from apps.federated import lifecycle
from apps.federated.lifecycle import (
    LifecycleError,
    experiment_cancel,
    experiment_pause,
    experiment_progress,
    experiment_resume,
    experiment_start,
)
from apps.federated.models import Blob, ClientUpdate, Experiment, Round
from apps.federated.services import experiment_create, round_aggregate
from apps.ledger.models import Block, PendingBatch
from apps.ledger.watch import chain_verify
from apps.workers.models import Job

from .test_pipeline import SMALL

pytestmark = pytest.mark.django_db(transaction=True)

S = Experiment.Status


def started(queue, **settings):
    experiment = experiment_create(**{**SMALL, **settings})
    return experiment_start(experiment=experiment)


def recorded_rounds(experiment):
    return list(Round.objects.filter(experiment=experiment).values_list("number", flat=True))


def test_each_change_applies_to_the_statuses_it_names_only(queue):
    experiment = experiment_create(**SMALL)
    for change in (experiment_pause, experiment_resume):
        with pytest.raises(LifecycleError, match=f"experiment {experiment.id} is queued: only a"):
            change(experiment=experiment)
    assert experiment_start(experiment=experiment).status == S.RUNNING
    with pytest.raises(LifecycleError, match="is running: only a queued experiment can be started"):
        experiment_start(experiment=experiment)
    with pytest.raises(LifecycleError, match="is running: only a paused experiment can be resumed"):
        experiment_resume(experiment=experiment)
    assert experiment_pause(experiment=experiment).status == S.PAUSED
    assert experiment_resume(experiment=experiment).status == S.RUNNING
    assert experiment_cancel(experiment=experiment).status == S.CANCELLED
    for change in (experiment_start, experiment_pause, experiment_resume, experiment_cancel):
        with pytest.raises(LifecycleError, match="is cancelled"):
            change(experiment=experiment)
    statuses = [e.payload["status"] for e in Event.objects.filter(type="experiment", experiment_id=experiment.id)]
    assert statuses == ["queued", "running", "paused", "running", "cancelled"]


def test_a_paused_experiment_trains_nothing_new_and_resumes_where_it_stopped(queue):
    experiment = started(queue)
    queue.run(queue.take("run_round"))  # round 0, and round 1's clients sent out
    queue.run(queue.take("train_client"))  # one client trains

    experiment_pause(experiment=experiment)
    queue.run_all()  # whatever was enqueued finds its job held; round 0 is still mined
    assert recorded_rounds(experiment) == [0]
    assert Block.objects.filter(experiment_id=experiment.id, round_number=0, status="main").exists()
    assert Job.objects.filter(experiment_id=experiment.id, status=Job.Status.HELD).count() == 2  # a client, the round
    assert experiment_progress(experiment)["training"] == {"round": 1, "clients_done": 1, "clients_sampled": 2}

    experiment_resume(experiment=experiment)
    queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == S.FINISHED and recorded_rounds(experiment) == [0, 1, 2, 3]
    assert chain_verify().valid


def round_one_trained(queue):
    """An experiment whose round 0 is recorded and whose round 1 clients have all trained: it aggregates next."""
    experiment = started(queue)
    queue.run(queue.take("run_round"))
    queue.run(queue.take("train_client"))
    queue.run(queue.take("train_client"))
    return experiment


def aggregate_while(queue, monkeypatch, change, experiment):
    """Runs round 1's aggregation, applying `change` to the experiment while it aggregates."""

    def changed_while_aggregating(**kwargs):
        change(experiment=experiment)
        return round_aggregate(**kwargs)

    monkeypatch.setattr(lifecycle, "round_aggregate", changed_while_aggregating)
    queue.run(queue.take("run_round"))
    monkeypatch.setattr(lifecycle, "round_aggregate", round_aggregate)


def test_a_round_aggregating_when_paused_stops_writes_nothing_and_is_aggregated_again_on_resume(queue, monkeypatch):
    experiment = round_one_trained(queue)
    aggregate_while(queue, monkeypatch, experiment_pause, experiment)
    assert recorded_rounds(experiment) == [0]  # the pause reached the running aggregation: nothing recorded
    assert Job.objects.get(key=f"round/{experiment.id}/1").status == Job.Status.HELD
    experiment_resume(experiment=experiment)
    queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == S.FINISHED and recorded_rounds(experiment) == [0, 1, 2, 3]
    assert chain_verify().valid


def test_a_cancelled_experiment_stops_its_round_writes_nothing_more_and_its_recorded_rounds_reach_the_chain(
    queue, monkeypatch
):
    experiment = round_one_trained(queue)
    aggregate_while(queue, monkeypatch, experiment_cancel, experiment)
    queue.run_all()

    experiment.refresh_from_db()
    assert experiment.status == S.CANCELLED
    assert recorded_rounds(experiment) == [0]
    assert not ClientUpdate.objects.filter(round__experiment=experiment).exists()
    assert not Job.objects.filter(experiment_id=experiment.id, status__in=["queued", "held", "running"]).exists()
    assert Block.objects.filter(experiment_id=experiment.id, status="main").count() == 1
    assert not PendingBatch.objects.filter(status="pending").exists()
    assert chain_verify().valid


def test_a_round_that_cannot_be_aggregated_fails_the_experiment_with_the_reason(queue):
    experiment = round_one_trained(queue)
    lost = Job.objects.filter(experiment_id=experiment.id, status="done", clients__isnull=False).first()
    blob = lost.result["updates"][0]["update"]
    Blob.objects.filter(sha256=blob).delete()
    queue.run_all()

    experiment.refresh_from_db()
    assert experiment.status == S.FAILED
    assert experiment.error.startswith(f"round 1: the update blob {blob} is missing")
    assert recorded_rounds(experiment) == [0]
    assert Job.objects.get(key=f"round/{experiment.id}/1").status == Job.Status.FAILED
    assert Event.objects.filter(type="experiment", experiment_id=experiment.id).last().payload["status"] == "failed"
    assert Block.objects.filter(experiment_id=experiment.id, status="main").count() == 1  # round 0 still mined


def test_starting_an_experiment_with_rounds_recorded_in_the_foreground_mines_them_and_goes_on(queue):
    from apps.federated.services import experiment_run_round

    experiment = experiment_create(**SMALL)
    experiment_run_round(experiment=experiment, number=0)
    experiment_run_round(experiment=experiment, number=1)  # recorded, never mined
    experiment_start(experiment=experiment)
    queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == S.FINISHED
    assert list(
        Block.objects.filter(experiment_id=experiment.id, status="main").order_by("height").values_list(
            "round_number", flat=True
        )
    ) == [0, 1, 2, 3]
    assert chain_verify().valid


def test_a_round_job_waiting_without_its_clients_sent_out_sends_them_out_when_it_runs(queue):
    """A round job as an earlier release queued it: its clients' train jobs were created by the job itself."""
    experiment = started(queue)
    queue.run(queue.take("run_round"))  # round 0, and round 1's clients sent out
    Job.objects.filter(experiment_id=experiment.id, round_number=1, clients__isnull=False).delete()
    Job.objects.filter(key=f"round/{experiment.id}/1").update(deadline_at=None)
    queue.items = [item for item in queue.items if item.task.endswith("mine_round")]
    queue.put(Job.objects.get(key=f"round/{experiment.id}/1"))
    queue.run_all()

    experiment.refresh_from_db()
    assert experiment.status == S.FINISHED and recorded_rounds(experiment) == [0, 1, 2, 3]
    round_one = Round.objects.get(experiment=experiment, number=1)
    assert round_one.clients_accepted == round_one.clients_sampled == 2
    assert Job.objects.get(key=f"round/{experiment.id}/1").attempts == 2  # sent out, then aggregated
    assert chain_verify().valid
