"""The admin's actions start, pause, resume and cancel the selected experiments through the lifecycle services."""

import pytest
from django.urls import reverse

from apps.federated.models import Experiment
from apps.federated.services import experiment_create

from .test_pipeline import SMALL

pytestmark = pytest.mark.django_db(transaction=True)


def act(admin_client, action, *experiments):
    return admin_client.post(
        reverse("admin:federated_experiment_changelist"),
        {"action": action, "_selected_action": [experiment.pk for experiment in experiments]},
        follow=True,
    )


def status(experiment):
    experiment.refresh_from_db()
    return experiment.status


def test_actions_change_what_they_apply_to_and_say_what_they_do_not(admin_client, queue):
    first, second = experiment_create(**SMALL), experiment_create(**SMALL)
    page = act(admin_client, "experiment_start", first).content.decode()
    assert "1 experiment(s) started." in page and status(first) == Experiment.Status.RUNNING
    assert len(queue.items) == 1  # its first round waits for a worker

    page = act(admin_client, "experiment_pause", first, second).content.decode()
    assert "1 experiment(s) paused." in page
    assert f"Experiment {second.pk} is queued: only a running experiment can be paused" in page
    assert (status(first), status(second)) == (Experiment.Status.PAUSED, Experiment.Status.QUEUED)

    act(admin_client, "experiment_resume", first)
    assert status(first) == Experiment.Status.RUNNING
    page = act(admin_client, "experiment_cancel", first, second).content.decode()
    assert "2 experiment(s) cancelled." in page
    assert status(first) == status(second) == Experiment.Status.CANCELLED
