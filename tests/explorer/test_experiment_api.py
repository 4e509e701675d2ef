"""/api/experiments/, /api/experiments/<id>/, /api/experiments/<id>/rounds/ and /api/models/<sha256>/."""

import hashlib
import json

import pytest

from apps.federated.models import Blob, Experiment, Round
from apps.ledger.models import Record

from .conftest import run_experiment

pytestmark = pytest.mark.django_db


def test_no_experiments(client):
    assert client.get("/api/experiments/").json() == {"experiments": [], "next_before": None, "next": None}


def test_experiments_newest_first_by_keyset(client, experiment_chain):
    second = run_experiment(name="second", aggregator="median", rounds=1)
    first_page = client.get("/api/experiments/?limit=1").json()
    assert [e["id"] for e in first_page["experiments"]] == [second.id]
    assert first_page["next"] == f"/api/experiments/?before={second.id}&limit=1"
    rest = client.get(first_page["next"]).json()
    assert [e["id"] for e in rest["experiments"]] == [experiment_chain.id] and rest["next"] is None
    summary = first_page["experiments"][0]
    assert summary["status"] == "finished" and summary["settings"]["aggregator"] == "median"
    assert summary["rounds_recorded"] == 2 and summary["url"] == f"/experiments/{second.id}/"


def test_an_experiment_carries_status_settings_and_metrics_per_round(client, experiment_chain):
    queued = Experiment.objects.create(name="waiting", dataset="wine")
    detail = client.get(f"/api/experiments/{experiment_chain.id}/").json()
    assert detail["status"] == "finished" and detail["name"] == "iris trio"
    assert detail["settings"] == experiment_chain.settings()
    rows = Round.objects.filter(experiment=experiment_chain).order_by("number")
    assert [(m["round"], m["loss"], m["accuracy"]) for m in detail["metrics"]] == [
        (row.number, row.test_loss, row.test_accuracy) for row in rows
    ]
    waiting = client.get(f"/api/experiments/{queued.id}/").json()
    assert waiting["status"] == "queued" and waiting["metrics"] == [] and waiting["started_at"] is None


def test_rounds_link_each_hash_to_the_record_that_commits_it(client, experiment_chain):
    rounds = client.get(f"/api/experiments/{experiment_chain.id}/rounds/").json()["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert rounds[0]["updates"] == []
    for entry in rounds:
        model_record = json.loads(Record.objects.get(txid=entry["record"]["txid"]).body)
        assert model_record["type"] == "global_model" and model_record["model"] == entry["global_model"]
        assert entry["record"]["height"] == entry["round"] + 1
    assert len(rounds[2]["updates"]) == 3
    for update in rounds[2]["updates"]:
        body = json.loads(Record.objects.get(txid=update["record"]["txid"]).body)
        assert (body["client"], body["update"], body["samples"]) == (update["client"], update["update"], update["samples"])


def test_rounds_come_a_page_at_a_time_and_a_page_stops_at_its_share_of_updates(client, experiment_chain, monkeypatch):
    from apps.explorer import selectors

    url = f"/api/experiments/{experiment_chain.id}/rounds/"
    first = client.get(url, {"limit": 2}).json()
    assert [r["round"] for r in first["rounds"]] == [0, 1] and first["next_after"] == 1
    second = client.get(first["next"]).json()
    assert [r["round"] for r in second["rounds"]] == [2] and second["next_after"] is None and second["next"] is None
    monkeypatch.setattr(selectors, "ROUND_PAGE_UPDATES", 4)  # round 1 and 2 have 3 updates each
    capped = client.get(url).json()
    assert [r["round"] for r in capped["rounds"]] == [0, 1] and capped["next_after"] == 1
    monkeypatch.setattr(selectors, "ROUND_PAGE_UPDATES", 1)  # a round larger than a page still comes whole
    assert [r["round"] for r in client.get(url, {"after": 0}).json()["rounds"]] == [1]
    assert client.get(url, {"limit": 101}).status_code == 400


def test_a_round_not_mined_yet_has_no_record(client, db):
    from apps.federated.services import experiment_create, experiment_run_round

    experiment = experiment_create(dataset="iris", clients=3, rounds=1, baseline=False)
    experiment_run_round(experiment=experiment, number=0)  # recorded, waiting for a miner
    (entry,) = client.get(f"/api/experiments/{experiment.id}/rounds/").json()["rounds"]
    assert entry["record"] is None


def test_model_blobs_are_served_as_their_bytes(client, experiment_chain):
    model = Round.objects.get(experiment=experiment_chain, number=2).global_model_hash
    response = client.get(f"/api/models/{model}/")
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    data = b"".join(response.streaming_content) if response.streaming else response.content
    assert hashlib.sha256(data).hexdigest() == model
    # A damaged blob is never served under its name.
    Blob.objects.filter(sha256=model).update(data=data[:-1] + b"\x00")
    assert client.get(f"/api/models/{model}/").status_code == 404


def test_model_blobs_are_also_served_as_npz(client, experiment_chain):
    import io

    import numpy as np

    from apps.federated.blobs import params_parse

    model = Round.objects.get(experiment=experiment_chain, number=2).global_model_hash
    response = client.get(f"/api/models/{model}/?format=npz")
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.npz"')
    arrays = np.load(io.BytesIO(b"".join(response.streaming_content)))
    shapes, flat = params_parse(bytes(Blob.objects.get(sha256=model).data))
    loaded = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    assert [a.shape for a in loaded] == [tuple(s) for s in shapes]
    assert np.array_equal(np.concatenate([a.ravel() for a in loaded]), flat)
    refused = client.get(f"/api/models/{model}/?format=pickle")
    assert refused.status_code == 400 and "format must be fcmp" in refused.json()["detail"]
