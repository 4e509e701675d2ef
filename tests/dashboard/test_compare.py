"""The comparison view, the experiment list's metrics and filters, and the metric downloads."""

import csv
import io
import json

import pytest

from apps.federated.models import Experiment
from apps.federated.services import experiment_create, experiment_run_round

pytestmark = pytest.mark.django_db

SMALL = {"dataset": "iris", "clients": 3, "rounds": 2, "difficulty_bits": 8}


def trained(rounds=2, **settings):
    experiment = experiment_create(**{**SMALL, "rounds": rounds, **settings})
    for number in range(rounds + 1):
        experiment_run_round(experiment=experiment, number=number)
    return experiment


def test_the_comparison_shows_each_experiment_and_only_the_settings_that_differ(client):
    iid = trained(name="iid")
    skewed = trained(name="skewed", partition="dirichlet", alpha=0.1)
    response = client.get(f"/compare/?ids={iid.id},{skewed.id}&smooth=0.5")
    assert response.status_code == 200
    view = response.context["view"]
    assert [e["id"] for e in view["experiments"]] == [iid.id, skewed.id]
    assert view["differing"] == ["partition", "alpha"]
    first = view["experiments"][0]
    assert [r["round"] for r in first["rounds"]] == [0, 1, 2]
    assert first["final"]["round"] == 2
    assert first["best_accuracy"]["value"] == max(r.test_accuracy for r in iid.round_set.exclude(number=0))
    assert response.context["smooth"] == 0.5
    html = response.content.decode()
    assert 'data-setting="partition"' in html and 'data-setting="seed"' not in html


def test_a_comparison_of_junk_or_missing_ids_says_so_and_shows_the_rest(client):
    known = trained()
    response = client.get(f"/compare/?ids={known.id},abc,999999&ids={known.id}")
    assert response.status_code == 200
    assert [e["id"] for e in response.context["view"]["experiments"]] == [known.id]
    problem = response.context["problem"]
    assert "'abc' is not an experiment number" in problem and "no experiment 999999" in problem
    many = ",".join(str(i) for i in range(1, 20))
    assert "at most 8" in client.get(f"/compare/?ids={many}").context["problem"]


def test_the_comparison_serves_its_data_as_json_for_the_live_refresh(client):
    known = trained()
    body = client.get(f"/compare/?ids={known.id}&format=json").json()
    assert body["experiments"][0]["final"]["round"] == 2


def test_long_experiments_are_drawn_from_a_bounded_number_of_points(client):
    from apps.dashboard.selectors import experiment_curves

    known = trained(rounds=9)
    points = experiment_curves(known.id, points=4)
    assert [p["round"] for p in points] == [0, 3, 6, 9]
    assert len(experiment_curves(known.id)) == 10


def test_the_experiment_list_shows_metrics_and_filters_by_partition(client):
    iid = trained(name="even split")
    skewed = trained(name="skewed split", partition="dirichlet", alpha=0.1)
    html = client.get("/experiments/").content.decode()
    last = iid.round_set.get(number=2)
    assert f"{last.test_accuracy * 100:.1f} %" in html and "α=0.1" in html
    filtered = client.get("/experiments/?partition=dirichlet")
    assert [e.id for e in filtered.context["page"].object_list] == [skewed.id]
    assert list(client.get("/experiments/?partition=nonsense").context["page"].object_list) == []
    # Unknown filter names are ignored, not passed to the database.
    assert len(client.get("/experiments/?error__contains=x").context["page"].object_list) == 2


def test_metrics_download_as_csv_and_json_per_experiment_round_and_client(client):
    experiment = trained()
    response = client.get(f"/experiments/{experiment.id}/rounds.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert f'experiment-{experiment.id}-rounds.csv' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["round"]) for r in rows] == [0, 1, 2]
    assert float(rows[2]["accuracy"]) == experiment.round_set.get(number=2).test_accuracy

    response = client.get(f"/experiments/{experiment.id}/updates.json?round=1")
    updates = json.loads(b"".join(response.streaming_content))
    assert {u["round"] for u in updates} == {1} and sorted(u["client"] for u in updates) == [0, 1, 2]
    one = json.loads(b"".join(client.get(f"/experiments/{experiment.id}/updates.json?client=1").streaming_content))
    assert [(u["round"], u["client"]) for u in one] == [(1, 1), (2, 1)]
    assert set(one[0]) == {"round", "client", "samples", "train_loss", "accepted", "reason", "train_seconds", "update_hash"}


def test_downloads_refuse_bad_input_with_json(client):
    experiment = trained(rounds=1)
    bad = client.get(f"/experiments/{experiment.id}/updates.csv?round=-1")
    assert bad.status_code == 400 and "round must be a whole number" in bad.json()["error"]
    assert client.get("/experiments/999999/rounds.json").status_code == 404
    assert client.get(f"/experiments/{experiment.id}/rounds.xml").status_code == 404
    assert not Experiment.objects.filter(pk=999999).exists()


def test_the_experiment_page_links_its_downloads_and_the_last_model_as_npz(client):
    experiment = trained()
    last = experiment.round_set.get(number=2)
    page = client.get(f"/experiments/{experiment.id}/").content.decode()
    assert f"/experiments/{experiment.id}/rounds.csv" in page and f"/experiments/{experiment.id}/updates.json" in page
    assert f"/api/models/{last.global_model_hash}/?format=npz" in page
    response = client.get(f"/api/models/{last.global_model_hash}/?format=npz")
    assert response.status_code == 200 and b"".join(response.streaming_content)[:2] == b"PK"  # a zip: NumPy's .npz
    round_page = client.get(f"/experiments/{experiment.id}/rounds/2/").content.decode()
    assert f"/api/models/{last.global_model_hash}/?format=npz" in round_page
    assert f"/experiments/{experiment.id}/updates.csv?round=2" in round_page
