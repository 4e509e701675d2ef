"""Every refusal of the API is JSON with a 4xx status: methods an endpoint does not take (405, not Django's HTML
CSRF page), bodies that are too big, too deep or carry numbers and names a setting cannot hold."""

import json

import pytest
from django.test import Client

from apps.federated.models import Experiment

from .test_api_control import PASSWORD, basic, staff  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

READ_ONLY = ["/api/chain/", "/api/blocks/", "/api/blocks/0/", "/api/tx/" + "0" * 64 + "/", "/api/schema/",
             "/api/experiments/1/", "/api/experiments/1/rounds/", "/api/models/" + "0" * 64 + "/"]


def assert_json(response, status, error):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["error"] == error, body
    return body


@pytest.mark.parametrize("path", READ_ONLY)
@pytest.mark.parametrize("method", ["put", "patch", "delete", "post"])
def test_a_method_a_read_only_endpoint_does_not_take_is_a_json_405(path, method):
    response = getattr(Client(enforce_csrf_checks=True), method)(path, "{}", content_type="application/json")
    assert_json(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def create(body, **extra):
    return Client().post("/api/experiments/", body, content_type="application/json",
                         HTTP_AUTHORIZATION=basic("operator", PASSWORD), **extra)


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"model": "mlp", "hidden": [1e999]}', "hidden"),
        ('{"model": "mlp", "hidden": [1.5]}', "hidden"),
        ('{"clients": "\u0662"}', "clients"),
        ('{"clients": 1e999}', "clients"),
        ('{"clients": "99999999999999999999999999"}', "clients"),
        ('{"name": "a\\u0000b"}', "name"),
        ('{"owner": 1}', "owner"),
        ('{"model": "mlp", "hidden": [4096, 4096, 4096, 4096], "dataset": "synthetic"}', "hidden"),
    ],
)
def test_settings_a_run_cannot_hold_are_refused_with_the_setting_named(staff, body, field):
    assert field in assert_json(create(body), 400, "invalid_settings")["fields"]
    assert not Experiment.objects.exists()


def test_a_deeply_nested_body_is_a_json_400(staff):
    assert_json(create("[" * 100_000 + "]" * 100_000), 400, "bad_json")


def test_a_body_over_the_upload_limit_is_a_json_413(staff, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert_json(create(json.dumps({"name": "x" * 2000})), 413, "too_large")
