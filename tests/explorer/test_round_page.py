"""/experiments/<id>/rounds/<r>/: a round's updates and global model, linked to their records, and its audit."""

import pytest

from apps.federated.models import Blob, Round

pytestmark = pytest.mark.django_db


def test_a_round_with_its_updates_and_a_passing_audit(client, experiment_chain):
    rounds = client.get(f"/api/experiments/{experiment_chain.id}/rounds/").json()["rounds"]
    response = client.get(f"/experiments/{experiment_chain.id}/rounds/2/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "checks out" in page and "badge ok" in page
    assert f'href="/tx/{rounds[2]["record"]["txid"]}/"' in page
    for update in rounds[2]["updates"]:
        assert f'href="/tx/{update["record"]["txid"]}/"' in page
        assert f'href="/api/models/{update["update"]}/"' in page
    assert f'href="/api/models/{rounds[2]["global_model"]}/"' in page
    assert 'rel="prev"' in page and 'rel="next"' not in page
    assert 'aria-current="page">Experiments' in page


def test_round_zero_is_the_initial_model(client, experiment_chain):
    page = client.get(f"/experiments/{experiment_chain.id}/rounds/0/").content.decode()
    assert "Round 0 has no updates" in page and "checks out" in page and 'rel="prev"' not in page
    assert "re-derived from the experiment's seed" in page and "every update" not in page


def test_a_damaged_update_blob_fails_the_audit(client, experiment_chain):
    update = Round.objects.get(experiment=experiment_chain, number=1).update_set.first()
    data = Blob.objects.get(sha256=update.update_hash).data
    Blob.objects.filter(sha256=update.update_hash).update(data=bytes(data[:-8]) + bytes(8))
    page = client.get(f"/experiments/{experiment_chain.id}/rounds/1/").content.decode()
    assert "badge bad" in page and "fails" in page
    assert update.update_hash in page and "missing or damaged" in page


def test_unknown_rounds_are_404_and_bad_numbers_400(client, experiment_chain):
    assert client.get(f"/experiments/{experiment_chain.id}/rounds/9/").status_code == 404
    assert client.get(f"/experiments/{experiment_chain.id}/rounds/-1/").status_code == 400


def test_the_audit_is_computed_once_and_kept_for_every_reader(client, experiment_chain, monkeypatch, django_user_model):
    from django.test import Client

    from apps.federated import services
    from tests.conftest import grant_experiment_permissions

    audits = []
    real = services.round_audit
    monkeypatch.setattr(services, "round_audit", lambda **kwargs: audits.append(kwargs) or real(**kwargs))
    url = f"/experiments/{experiment_chain.id}/rounds/1/"
    for _ in range(3):
        page = client.get(url).content.decode()
        assert "checks out" in page and "Audited" in page and "Audit again" not in page
    assert len(audits) == 1

    update = Round.objects.get(experiment=experiment_chain, number=1).update_set.first()
    Blob.objects.filter(sha256=update.update_hash).update(data=b"damaged")
    assert "checks out" in client.get(url).content.decode()  # the kept result, with the time it was computed
    assert client.post(url).status_code == 401  # asking again needs an account with the permission
    assert len(audits) == 1

    auditor = django_user_model.objects.create_user("auditor")
    grant_experiment_permissions(auditor, ["view_experiment"])
    allowed = Client()
    allowed.force_login(auditor)
    assert "Audit again" in allowed.get(url).content.decode()
    assert allowed.post(url).status_code == 302
    assert len(audits) == 2
    assert "missing or damaged" in client.get(url).content.decode()
