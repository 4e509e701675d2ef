import pytest
from django.urls import reverse

from apps.federated.models import Client, Experiment
from apps.federated.services import experiment_create, experiment_run

from .conftest import SMALL
from .test_experiment_form import form_data

pytestmark = pytest.mark.django_db


def test_adding_an_experiment_in_the_admin_creates_its_clients(admin_client):
    url = reverse("admin:federated_experiment_add")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, form_data(dataset="wine", clients=5, model="mlp", hidden="12"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    experiment = Experiment.objects.get()
    assert experiment.hidden == [12] and experiment.status == "queued"
    assert Client.objects.filter(experiment=experiment).count() == 5


def test_bad_settings_in_the_admin_show_the_messages_and_create_nothing(admin_client):
    response = admin_client.post(reverse("admin:federated_experiment_add"), form_data(dataset="iris", clients=500))
    assert response.status_code == 200
    assert "500 clients cannot each get a sample: iris has 114 training samples" in response.content.decode()
    assert not Experiment.objects.exists()


def test_the_work_budget_refuses_in_the_admin_with_its_message_and_creates_nothing(admin_client, settings):
    settings.FEDCHAIN_BUDGET_CORE_SECONDS = 1
    response = admin_client.post(reverse("admin:federated_experiment_add"), form_data(rounds=10_000))
    assert response.status_code == 200
    assert "one experiment may use 1.0 core-seconds" in response.content.decode()
    assert not Experiment.objects.exists()
    admin_client.post(reverse("admin:federated_experiment_add"), form_data(rounds=1))
    assert Experiment.objects.get().owner.username == "admin"


def test_recorded_experiments_are_read_only_and_every_page_renders(admin_client):
    experiment = experiment_run(experiment=experiment_create(**SMALL))
    page = admin_client.get(reverse("admin:federated_experiment_change", args=[experiment.pk]))
    assert page.status_code == 200 and 'name="clients"' not in page.content.decode()
    assert admin_client.post(reverse("admin:federated_experiment_delete", args=[experiment.pk])).status_code == 403
    for model in ("experiment", "client", "round", "clientupdate"):
        assert admin_client.get(reverse(f"admin:federated_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:federated_round_add")).status_code == 403
