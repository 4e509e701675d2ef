"""Staff control experiments through the API: POST /api/experiments/ creates and starts one, .../pause/,
.../resume/ and .../cancel/ move it. No worker runs here: the started experiment's first job waits in the queue."""

import base64
import json

import pytest
from django.test import Client

from apps.federated.models import Experiment
from apps.workers.models import Job

from .conftest import SMALL_EXPERIMENT
from tests.conftest import grant_experiment_permissions

pytestmark = pytest.mark.django_db

TOKEN = "k" * 32  # a CSRF secret as Django keeps it in the csrftoken cookie
PASSWORD = "a long staff password"


@pytest.fixture
def staff(django_user_model):
    return grant_experiment_permissions(django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True))


@pytest.fixture
def staff_client(staff):
    """A logged-in staff browser: Django's CSRF checks on, its token in the cookie."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    client.cookies["csrftoken"] = TOKEN
    return client


def post(client, url, body=None, **headers):
    data = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=headers)


def post_with_token(client, url, body=None):
    return post(client, url, body, **{"X-CSRFToken": TOKEN})


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def assert_json_error(response, status, error):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    return response.json()


def create(client, **settings):
    response = post_with_token(client, "/api/experiments/", {**SMALL_EXPERIMENT, **settings})
    assert response.status_code == 201, response.content[:300]
    return response.json()


def test_staff_create_an_experiment_that_starts_in_the_workers(staff_client):
    created = create(staff_client, name="from the api", aggregator="median")
    experiment = Experiment.objects.get()
    assert created == Client().get(f"/api/experiments/{experiment.id}/").json()
    assert created["status"] == "running" and created["name"] == "from the api"
    assert created["settings"]["aggregator"] == "median" and created["settings"]["clients"] == 3
    # Started: its initial round waits in the queue for a worker.
    assert Job.objects.filter(key=f"round/{experiment.id}/0", status=Job.Status.QUEUED).exists()


def test_pause_resume_cancel_and_the_transitions_the_status_refuses(staff_client):
    url = f"/api/experiments/{create(staff_client)['id']}"
    assert_json_error(post_with_token(staff_client, f"{url}/resume/"), 409, "status_conflict")
    paused = post_with_token(staff_client, f"{url}/pause/")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json() == Client().get(f"{url}/").json()
    refused = assert_json_error(post_with_token(staff_client, f"{url}/pause/"), 409, "status_conflict")
    assert "only a running experiment can be paused" in refused["detail"]
    assert post_with_token(staff_client, f"{url}/resume/").json()["status"] == "running"
    cancelled = post_with_token(staff_client, f"{url}/cancel/").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    for action in ("pause", "resume", "cancel"):
        assert_json_error(post_with_token(staff_client, f"{url}/{action}/"), 409, "status_conflict")
    assert Experiment.objects.get().status == "cancelled"


def test_unknown_or_malformed_experiments_and_other_methods(staff_client):
    assert_json_error(post_with_token(staff_client, "/api/experiments/999/pause/"), 404, "not_found")
    assert_json_error(post_with_token(staff_client, "/api/experiments/x/cancel/"), 400, "invalid_id")
    response = staff_client.get("/api/experiments/1/pause/")
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert staff_client.delete("/api/experiments/")["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "body, error",
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ("", "bad_json"),
        ({"dataset": "mnist", "clients": 0}, "invalid_settings"),
        ({"colour": "blue"}, "invalid_settings"),
        ({"name": ["a list"]}, "invalid_settings"),
        ({"aggregator": "krum", "clients": 3, "byzantine": 1}, "invalid_settings"),
        ({"clients": "3"}, "invalid_settings"),  # JSON as the schema types it: a number, not text
        ({"baseline": None}, "invalid_settings"),
    ],
)
def test_bad_bodies_are_400_and_create_nothing(staff_client, body, error):
    answer = assert_json_error(post_with_token(staff_client, "/api/experiments/", body), 400, error)
    if error == "invalid_settings":
        assert answer["fields"] and all(isinstance(messages, list) for messages in answer["fields"].values())
    assert not Experiment.objects.exists() and not Job.objects.exists()


def test_messages_name_each_bad_setting(staff_client):
    answer = post_with_token(staff_client, "/api/experiments/", {"dataset": "mnist", "lr": "fast"}).json()
    assert set(answer["fields"]) == {"dataset", "lr"}
    assert "'mnist' is not one of" in answer["fields"]["dataset"][0]


def test_anonymous_writes_are_401_with_a_basic_challenge_and_reads_stay_open(staff_client):
    experiment_id = create(staff_client)["id"]
    anonymous = Client(enforce_csrf_checks=True)
    for url in ("/api/experiments/", f"/api/experiments/{experiment_id}/cancel/"):
        response = post(anonymous, url, SMALL_EXPERIMENT)
        assert_json_error(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith('Basic realm="FedChain API"')
    assert Experiment.objects.get().status == "running" and Experiment.objects.count() == 1
    assert anonymous.get(f"/api/experiments/{experiment_id}/").json()["status"] == "running"


@pytest.mark.parametrize("staff", [False, True])
def test_users_without_the_permissions_get_403_staff_or_not(django_user_model, staff):
    user = django_user_model.objects.create_user("visitor", password=PASSWORD, is_staff=staff)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies["csrftoken"] = TOKEN
    assert "does not have the permission 'federated.add_experiment'" in assert_json_error(
        post_with_token(client, "/api/experiments/", SMALL_EXPERIMENT), 403, "permission_denied"
    )["detail"]
    assert_json_error(post(Client(), "/api/experiments/", SMALL_EXPERIMENT, Authorization=basic("visitor", PASSWORD)),
                      403, "permission_denied")
    assert not Experiment.objects.exists()


def test_adding_and_changing_are_separate_permissions(django_user_model, staff_client):
    experiment_id = create(staff_client)["id"]
    adder = grant_experiment_permissions(django_user_model.objects.create_user("adder", password=PASSWORD),
                                         ["add_experiment"])
    assert post(Client(), "/api/experiments/", SMALL_EXPERIMENT, Authorization=basic("adder", PASSWORD)).status_code == 201
    assert Experiment.objects.filter(owner=adder).count() == 1
    assert_json_error(post(Client(), f"/api/experiments/{experiment_id}/pause/", Authorization=basic("adder", PASSWORD)),
                      403, "permission_denied")


def test_an_owner_in_the_body_is_refused(staff_client):
    response = post_with_token(staff_client, "/api/experiments/", {**SMALL_EXPERIMENT, "owner": 1})
    assert "owner" in assert_json_error(response, 400, "invalid_settings")["fields"]
    assert not Experiment.objects.exists()


def test_session_writes_without_the_csrf_token_are_refused(staff_client):
    experiment_id = create(staff_client)["id"]
    for headers in ({}, {"X-CSRFToken": "w" * 32}):
        assert_json_error(post(staff_client, "/api/experiments/", SMALL_EXPERIMENT, **headers), 403, "csrf_failed")
        assert_json_error(post(staff_client, f"/api/experiments/{experiment_id}/pause/", **headers), 403, "csrf_failed")
    assert Experiment.objects.count() == 1 and Experiment.objects.get().status == "running"


def test_scripts_may_use_basic_credentials_of_a_staff_account(staff):
    script = Client(enforce_csrf_checks=True)
    response = post(script, "/api/experiments/", SMALL_EXPERIMENT, Authorization=basic("operator", PASSWORD))
    assert response.status_code == 201 and response["Location"] == f"/api/experiments/{response.json()['id']}/"
    url = f"/api/experiments/{response.json()['id']}/pause/"
    assert_json_error(post(script, url, Authorization=basic("operator", "wrong")), 401, "unauthorized")
    assert_json_error(post(script, url, Authorization="Basic !!!"), 401, "unauthorized")
    # A browser always sends Origin with a POST: cached Basic credentials do not bypass the CSRF check.
    from_a_page = post(script, url, Authorization=basic("operator", PASSWORD), Origin="https://elsewhere.example")
    assert_json_error(from_a_page, 403, "csrf_failed")
    assert Experiment.objects.get().status == "running"
    assert post(script, url, Authorization=basic("operator", PASSWORD)).json()["status"] == "paused"


def test_with_a_session_cookie_basic_credentials_do_not_skip_the_csrf_check(staff_client):
    response = post(staff_client, "/api/experiments/", SMALL_EXPERIMENT, Authorization=basic("operator", PASSWORD))
    assert_json_error(response, 403, "csrf_failed")
    assert not Experiment.objects.exists()
