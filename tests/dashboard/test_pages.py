import json
import re

import pytest
from django.templatetags.static import static

from apps.events.services import last_event_seq
from apps.federated.forms import ExperimentForm
from apps.federated.lifecycle import experiment_start
from apps.federated.models import Experiment
from apps.federated.services import experiment_create
from apps.workers.models import Job

pytestmark = pytest.mark.django_db

SMALL = {"dataset": "iris", "clients": 3, "rounds": 2, "difficulty_bits": 8}


def form_data(**settings):
    """What a browser posts: every field as the form shows it, with these settings typed in."""
    form = ExperimentForm()
    data = {name: form[name].value() for name in form.fields}
    data = {name: value for name, value in data.items() if value is not None}
    data.update(settings)
    data = {name: ("on" if value is True else value) for name, value in data.items() if value is not False}
    return data


def embedded_state(response):
    match = re.search(r'<script id="live-state" type="application/json">(.*?)</script>', response.content.decode(), re.S)
    assert match, "the page embeds its live state"
    return json.loads(match.group(1))


def test_an_empty_database_gets_the_demo_offer_and_a_state_to_resume_from(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Start the demo experiment" in response.content
    assert static("vendor/plotly/plotly.min.js").encode() in response.content  # our own copy, hashed name
    state = embedded_state(response)
    assert state["seq"] == last_event_seq()
    assert state["data"]["experiments"] == [] and state["data"]["chain"]["valid"] is True


def test_the_demo_starts_in_one_click_and_only_on_a_first_run(client):
    response = client.post("/demo/")
    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/experiments/{experiment.id}/"
    assert experiment.client_set.count() == 8
    assert experiment.status == Experiment.Status.RUNNING and Job.objects.filter(experiment_id=experiment.id).exists()
    assert b"Start the demo experiment" not in client.get("/").content
    response = client.post("/demo/", follow=True)
    assert Experiment.objects.count() == 1
    assert b"first run only" in response.content


def test_the_experiment_page_embeds_its_clients_and_rounds(client):
    experiment = experiment_create(name="small", **SMALL)
    response = client.get(f"/experiments/{experiment.id}/")
    assert response.status_code == 200
    data = embedded_state(response)["data"]
    assert data["experiment"]["id"] == experiment.id and data["experiment"]["clients_per_round"] == 3
    assert [c["index"] for c in data["clients"]] == [0, 1, 2]
    assert sum(c["shard_size"] for c in data["clients"]) == sum(sum(c["label_counts"]) for c in data["clients"])
    assert data["rounds"] == [] and data["mined"] == []


def test_an_unknown_experiment_is_a_404_page_and_a_404_json(client):
    assert client.get("/experiments/999/").status_code == 404
    response = client.get("/experiments/999/clients.json")
    assert response.status_code == 404 and response.json() == {"error": "there is no experiment 999"}


def test_the_experiment_list_pages_through_experiments(client):
    for n in range(3):
        experiment_create(name=f"run {n}", **SMALL)
    response = client.get("/experiments/")
    assert response.status_code == 200
    assert [name.decode() for name in re.findall(rb">(run \d)<", response.content)] == ["run 2", "run 1", "run 0"]


def test_the_form_shows_every_setting_once():
    listed = [field.name for _, fields in ExperimentForm().sections() for field in fields]
    assert sorted(listed) == sorted(ExperimentForm().fields) and len(listed) == len(set(listed))


def test_starting_an_experiment_needs_a_staff_account(client):
    response = client.get("/experiments/new/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.post("/experiments/new/", form_data(name="x", **SMALL))
    assert not Experiment.objects.exists()


def test_bad_settings_come_back_with_a_message_per_setting_and_create_nothing(staff_client):
    response = staff_client.post(
        "/experiments/new/", form_data(dataset="iris", clients="-1", lr="-1", model="mlp", hidden="64,x")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"clients", "lr", "hidden"}
    # The validation's own words, as the command line and the API say them, and only those.
    assert form.errors["clients"] == ["must be between 1 and 10000"]
    assert "comma-separated whole numbers" in form.errors["hidden"][0]
    assert not Experiment.objects.exists()
    # A summary at the top of the long form links each refused setting to its field.
    page = response.content.decode()
    summary = page[page.index('id="error-summary"'):page.index("</div>", page.index('id="error-summary"'))]
    for name in ("clients", "lr", "hidden"):
        assert f'href="#id_{name}"' in summary
    assert page.index('id="error-summary"') < page.index('id="id_name"')


def test_the_work_budget_refuses_on_the_form_with_its_message_and_creates_nothing(staff_client, settings):
    settings.FEDCHAIN_BUDGET_CORE_SECONDS = 1
    response = staff_client.post("/experiments/new/", form_data(**{**SMALL, "rounds": 10_000}))
    assert response.status_code == 200
    assert "one experiment may use 1.0 core-seconds" in response.context["form"].non_field_errors()[0]
    assert not Experiment.objects.exists()


def test_good_settings_start_the_experiment_in_the_workers(staff_client):
    response = staff_client.post("/experiments/new/", form_data(name="from the form", model="mlp", hidden="16,8", **SMALL))
    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/experiments/{experiment.id}/"
    assert experiment.name == "from the form" and experiment.hidden == [16, 8] and experiment.baseline
    assert experiment.client_set.count() == 3
    assert experiment.status == Experiment.Status.RUNNING
    assert Job.objects.filter(experiment_id=experiment.id, round_number=0).exists()


def test_staff_pause_resume_and_cancel_an_experiment(staff_client):
    experiment = experiment_create(name="controlled", **SMALL)
    page = f"/experiments/{experiment.id}/"
    assert b'data-action="pause"' in staff_client.get(page).content

    def control(action):
        response = staff_client.post(f"{page}{action}/", follow=True)
        assert response.redirect_chain == [(page, 302)]
        experiment.refresh_from_db()
        return [str(message) for message in response.context["messages"]]

    assert "only a running experiment can be paused" in control("pause")[0]
    assert experiment.status == Experiment.Status.QUEUED
    experiment_start(experiment=experiment)
    control("pause")
    assert experiment.status == Experiment.Status.PAUSED
    control("resume")
    assert experiment.status == Experiment.Status.RUNNING
    control("cancel")
    assert experiment.status == Experiment.Status.CANCELLED
    assert "only a paused experiment can be resumed" in control("resume")[0]
    assert experiment.status == Experiment.Status.CANCELLED


def test_controls_are_for_staff_and_posts_only(client, staff_client):
    experiment = experiment_create(name="controlled", **SMALL)
    assert b'data-action="pause"' not in client.get(f"/experiments/{experiment.id}/").content
    response = client.post(f"/experiments/{experiment.id}/cancel/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert staff_client.get(f"/experiments/{experiment.id}/cancel/").status_code == 405
    assert staff_client.post(f"/experiments/{experiment.id}/explode/").status_code == 404
    assert staff_client.post("/experiments/999/cancel/").status_code == 404
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.QUEUED


def test_settings_that_do_not_apply_are_ignored_and_take_their_defaults(staff_client):
    # alpha belongs to the dirichlet and quantity partitions, hidden to the mlp, trim_ratio to trimmed_mean.
    response = staff_client.post(
        "/experiments/new/",
        form_data(name="iid", partition="iid", alpha="-3", model="softmax", hidden="junk", trim_ratio="9", **SMALL),
    )
    experiment = Experiment.objects.get(name="iid")
    assert response.status_code == 302
    assert (experiment.alpha, experiment.hidden, experiment.trim_ratio) == (0.5, [], 0.1)
    refused = staff_client.post("/experiments/new/", form_data(partition="dirichlet", alpha="-3", **SMALL))
    assert refused.context["form"].errors["alpha"] == ["must be in (0, 1000000.0]"]


def test_each_setting_has_its_label_help_and_applicability_from_one_place():
    from apps.federated.config import SETTING_NAMES
    from apps.federated.definitions import definitions
    from apps.federated.management.commands.run_experiment import OPTIONS

    form = ExperimentForm()
    defined = {d.name: d for d in definitions(SETTING_NAMES)}
    assert set(defined) == set(SETTING_NAMES)
    for name, definition in defined.items():
        assert form.fields[name].label == definition.label and form.fields[name].help_text == definition.help
    assert json.loads(form.fields["alpha"].widget.attrs["data-applies-when"]) == {"partition": ["dirichlet", "quantity"]}
    assert "data-applies-when" not in form.fields["clients"].widget.attrs
    helps = {setting: text for _, setting, text in OPTIONS}
    assert all(helps[name].startswith(defined[name].help) for name in helps)
    assert helps["alpha"].endswith("(only with partition dirichlet or quantity)")
