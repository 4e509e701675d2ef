import pytest
from django.core.exceptions import ValidationError

from apps.events.models import Event
from apps.federated.models import Client, Experiment
from apps.federated.services import experiment_create

pytestmark = pytest.mark.django_db


def test_an_experiment_is_created_with_its_clients_and_announced():
    experiment = experiment_create(name="skewed", dataset="digits", clients=12, partition="dirichlet", alpha=0.1,
                                   rounds=3)
    assert experiment.status == Experiment.Status.QUEUED and experiment.name == "skewed"
    assert experiment.config().alpha == 0.1
    clients = list(Client.objects.filter(experiment=experiment).order_by("index"))
    assert [c.index for c in clients] == list(range(12))
    assert sum(c.shard_size for c in clients) == 1347  # digits' training split, every sample placed once
    assert all(sum(c.label_counts) == c.shard_size and len(c.label_counts) == 10 for c in clients)
    assert min(c.shard_size for c in clients) >= 1
    event = Event.objects.get(type="experiment", experiment_id=experiment.id)
    assert event.payload["status"] == "queued" and event.payload["settings"]["clients"] == 12


def test_bad_settings_raise_per_field_errors_and_create_nothing():
    with pytest.raises(ValidationError) as caught:
        experiment_create(dataset="iris", clients=1000, lr=-1, model="mlp", hidden="a,b")
    assert set(caught.value.message_dict) == {"lr", "hidden"}  # combination rules wait for valid fields
    with pytest.raises(ValidationError) as caught:
        experiment_create(dataset="iris", clients=1000)
    assert "iris has 114 training samples" in caught.value.message_dict["clients"][0]
    assert not Experiment.objects.exists() and not Client.objects.exists() and not Event.objects.exists()


def test_settings_come_back_normalized_from_the_model():
    experiment = experiment_create(dataset="wine", clients="3", model="mlp", hidden="16,8", lr="0.05")
    experiment.refresh_from_db()
    assert experiment.hidden == [16, 8] and experiment.clients == 3 and experiment.lr == 0.05
    assert experiment.config().hidden == (16, 8)
