"""/experiments/<id>/clients/<index>/: a client's updates round by round, accepted or rejected, loss, reward and
balance."""

import pytest

from apps.federated.models import Client

from .conftest import run_experiment
from .test_adversarial_api import PAID

pytestmark = pytest.mark.django_db


def test_a_client_page_shows_its_rounds_rewards_and_balance(client):
    experiment = run_experiment(**PAID)
    bad = Client.objects.filter(experiment=experiment, malicious=True).first()
    good = Client.objects.filter(experiment=experiment, malicious=False, update_set__accepted=True).first()
    page = client.get(f"/experiments/{experiment.id}/clients/{bad.index}/").content.decode()
    assert "malicious" in page and "runs the sign_flip attack" in page and page.count('data-round="') == 2
    assert "rejected" in page and '<dd id="client-balance">0 ' in page
    page = client.get(f"/experiments/{experiment.id}/clients/{good.index}/").content.decode()
    assert "honest" in page and "accepted" in page
    round_page = client.get(f"/experiments/{experiment.id}/rounds/1/").content.decode()
    assert f'href="/experiments/{experiment.id}/clients/{good.index}/"' in round_page
    experiment_page = client.get(f"/experiments/{experiment.id}/").content.decode()
    assert 'id="detection-chart"' in experiment_page and "attack sign_flip by 2 clients" in experiment_page


def test_unknown_clients_are_a_404_page(client):
    experiment = run_experiment()
    response = client.get(f"/experiments/{experiment.id}/clients/7/")
    assert response.status_code == 404 and "has no client 7" in response.content.decode()
    assert client.get(f"/experiments/{experiment.id}/clients/seven/").status_code == 400
