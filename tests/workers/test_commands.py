"""The CLI: `run_experiment --background` hands an experiment to the workers; `experiment` controls it."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.federated.models import Experiment
from apps.workers.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

SMALL_ARGS = ["--dataset", "iris", "--clients", "4", "--rounds", "2", "--difficulty-bits", "8"]


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_run_experiment_in_the_background_prints_the_id_of_a_running_experiment_the_workers_finish(queue):
    printed = run("run_experiment", *SMALL_ARGS, "--background")
    experiment = Experiment.objects.get()
    assert printed == str(experiment.id) and experiment.status == Experiment.Status.RUNNING
    assert [item.task.rsplit(".", 1)[1] for item in queue.items] == ["run_round"]  # nothing ran here
    queue.run_all()
    assert json.loads(run("experiment", "status", printed, "--json")) == {
        "experiment": experiment.id, "status": "finished", "error": "", "rounds": 2, "recorded": 2, "mined": 2,
        "training": None,
    }
    assert json.loads(run("run_experiment", *SMALL_ARGS, "--background", "--json"))["status"] == "running"


def test_the_experiment_command_pauses_resumes_cancels_and_says_where_it_is(queue):
    experiment_id = run("run_experiment", *SMALL_ARGS, "--background")
    queue.run(queue.take("run_round"))
    queue.run(queue.take("mine_round"))
    queue.run(queue.take("train_client"))
    assert run("experiment", "pause", experiment_id) == (
        f"experiment {experiment_id} paused: 2 rounds, recorded up to round 0, on the chain up to round 0; "
        "round 1 training, 1 of 4 clients done"
    )
    assert run("experiment", "resume", experiment_id).startswith(f"experiment {experiment_id} running:")
    assert run("experiment", "cancel", experiment_id).startswith(f"experiment {experiment_id} cancelled:")
    assert not Job.objects.filter(status__in=["queued", "held"], task__endswith="train_client").exists()


def test_the_experiment_command_refuses_what_does_not_apply_with_a_message(queue):
    experiment_id = run("run_experiment", *SMALL_ARGS, "--background")
    with pytest.raises(CommandError, match=f"experiment {experiment_id} is running: only a paused experiment"):
        run("experiment", "resume", experiment_id)
    with pytest.raises(CommandError, match="there is no experiment 999"):
        run("experiment", "pause", "999")
    with pytest.raises(CommandError, match="invalid choice: 'stop'"):
        run("experiment", "stop", experiment_id)
    Experiment.objects.filter(pk=experiment_id).update(status="failed", error="round 1: diverged")
    assert run("experiment", "status", experiment_id).endswith("\nreason: round 1: diverged")
