"""The OpenAPI description at /api/schema/ is true: schemathesis generates requests from it (valid and
malformed) and checks that nothing is a 500 and every response matches what the description promises."""

import base64
import re

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from apps.federated.aggregation import AGGREGATORS
from apps.federated.config import SETTING_NAMES
from apps.federated.definitions import MAX_CLIENTS, MAX_HIDDEN_UNITS, MAX_SEED, definition
from apps.federated.models import Round
from apps.ledger.models import Block, Record
from tests.conftest import grant_experiment_permissions



class TestApp:
    """Django's WSGI handler that, like its test client, leaves the test's database connection open."""

    handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


schema = schemathesis.openapi.from_wsgi("/api/schema/", TestApp())
schema.config.phases.update(phases=["examples", "fuzzing"])  # the coverage phase would triple the run time

pytestmark = pytest.mark.django_db


def test_the_served_description_is_openapi_3_1_and_covers_every_endpoint(client):
    served = client.get("/api/schema/").json()
    assert served["openapi"] == "3.1.0"
    assert set(served["paths"]) == {
        "/api/chain/",
        "/api/network/",
        "/api/blocks/",
        "/api/blocks/{ref}/",
        "/api/tx/{txid}/",
        "/api/tx/{txid}/proof/",
        "/api/experiments/",
        "/api/experiments/{id}/",
        "/api/experiments/{id}/rounds/",
        "/api/experiments/{id}/pause/",
        "/api/experiments/{id}/resume/",
        "/api/experiments/{id}/cancel/",
        "/api/experiments/{id}/balances/",
        "/api/experiments/{id}/clients/{index}/",
        "/api/models/{sha256}/",
        "/api/flower/experiments/",
        "/api/flower/experiments/{id}/rounds/",
        "/api/schema/",
        *(f"/p2p/v1/{path}" for path in ("hello", "peers", "inv", "headers", "blocks", "blocks/{hash}", "batches",
                                          "batches/{experiment}/{round}", "blobs/{sha256}")),
    }


def test_the_settings_schema_carries_each_settings_bounds_and_choices_from_its_definition(client):
    settings = client.get("/api/schema/").json()["components"]["schemas"]["ExperimentSettings"]["properties"]
    assert set(settings) == {"name", *SETTING_NAMES}
    assert (settings["clients"]["type"], settings["clients"]["minimum"], settings["clients"]["maximum"]) == ("integer", 1, MAX_CLIENTS)
    assert (settings["fraction"]["exclusiveMinimum"], settings["fraction"]["maximum"]) == (0, 1)
    assert settings["trim_ratio"]["exclusiveMaximum"] == 0.5 and settings["seed"]["maximum"] == MAX_SEED
    assert settings["aggregator"]["enum"] == list(AGGREGATORS) and settings["dp"]["type"] == "boolean"
    assert settings["max_epsilon"]["type"] == ["number", "null"]
    assert settings["hidden"]["items"]["maximum"] == MAX_HIDDEN_UNITS
    for name in SETTING_NAMES:
        assert settings[name]["description"].startswith(definition(name).help)


def content_type(response):
    value = {name.lower(): value for name, value in response.headers.items()}.get("content-type", "")
    return value[0] if isinstance(value, list) else value


def assert_not_html(response):
    kind = content_type(response)
    assert kind.startswith(("application/json", "application/octet-stream")), (response.status_code, kind)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_answers_the_description_allows(case, stale_block):
    assert_not_html(case.call_and_validate())


# Settings valid one by one (the description carries each setting's bounds and choices, from its definition) may
# still be refused together: the rules across settings (e.g. an attack needs malicious clients), the work budget
# (apps/federated/budget.py) and the name's printable-characters rule (str.isprintable, which no JSON Schema
# pattern states) are the server's to apply, answered 400 invalid_settings. So only there a schema-valid body may
# be refused; everywhere else, and for schema-invalid bodies everywhere, both checks hold.
REFUSES_SOME_VALID_BODIES = {"POST /api/experiments/"}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_with_credentials_get_answers_the_description_allows(case, stale_block, django_user_model):
    """As a user allowed to create and control experiments (HTTP Basic): the writes get past authentication.
    No 500, responses as described, never HTML; schema-valid requests accepted (but see REFUSES_SOME_VALID_BODIES)
    and schema-invalid ones refused with a 4xx."""
    if not django_user_model.objects.filter(username="fuzzer").exists():
        grant_experiment_permissions(django_user_model.objects.create_user("fuzzer", password="fuzz-password"))
    token = base64.b64encode(b"fuzzer:fuzz-password").decode()
    excluded = [schemathesis.checks.ignored_auth]  # the credentials are always the good ones here
    if case.operation.label in REFUSES_SOME_VALID_BODIES:
        excluded.append(schemathesis.checks.positive_data_acceptance)
    response = case.call_and_validate(headers={"Authorization": f"Basic {token}"}, excluded_checks=excluded)
    assert_not_html(response)


def named_cases(experiment_id):
    """Requests for things that exist, which random generation seldom hits."""
    block = Block.objects.get(status="main", height=2)
    txid = Record.objects.filter(block=block).last().txid
    model = Round.objects.get(experiment_id=experiment_id, number=1).global_model_hash
    stale = Block.objects.get(status="stale").hash
    return [
        ("/api/chain/", {}, {}),
        ("/api/network/", {}, {}),
        ("/api/blocks/", {}, {"limit": 2, "before": 3}),
        ("/api/blocks/{ref}/", {"ref": "0"}, {}),
        ("/api/blocks/{ref}/", {"ref": block.hash}, {}),
        ("/api/blocks/{ref}/", {"ref": stale}, {}),
        ("/api/tx/{txid}/", {"txid": txid}, {}),
        ("/api/tx/{txid}/proof/", {"txid": txid}, {}),
        ("/api/experiments/", {}, {"limit": 1}),
        ("/api/experiments/{id}/", {"id": experiment_id}, {}),
        ("/api/experiments/{id}/rounds/", {"id": experiment_id}, {}),
        ("/api/experiments/{id}/balances/", {"id": experiment_id}, {}),
        ("/api/experiments/{id}/clients/{index}/", {"id": experiment_id, "index": 0}, {}),
        ("/api/models/{sha256}/", {"sha256": model}, {}),
    ]


def validate_named_cases(experiment_id):
    for path, parameters, query in named_cases(experiment_id):
        case = schema[path]["GET"].Case(path_parameters=parameters, query=query)
        response = case.call_and_validate()
        assert response.status_code == 200, (path, response.text[:300])


def test_existing_things_match_the_description(stale_block, experiment_chain):
    validate_named_cases(experiment_chain.id)


def test_an_invalid_chain_still_matches_the_description(stale_block, experiment_chain, invalid_chain):
    validate_named_cases(experiment_chain.id)


def test_an_empty_chain_matches_the_description():
    for path in ("/api/chain/", "/api/blocks/", "/api/experiments/"):
        assert schema[path]["GET"].Case().call_and_validate().status_code == 200


def test_the_interactive_api_page_serves_swagger_ui_from_our_own_static_files(client):
    page = client.get("/api/docs/").content.decode()
    assert 'data-schema-url="/api/schema/"' in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    # (Static names may carry a content hash before the extension.)
    assert any(re.fullmatch(r"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle(\.\w+)?\.js", s) for s in scripts)
    assert any(re.fullmatch(r"/static/explorer/api-docs(\.\w+)?\.js", s) for s in scripts)
    assert all(src.startswith("/static/") for src in scripts)  # nothing from another host
    assert "<script>" not in page  # no inline script
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
