"""Who may do what: every view, endpoint and websocket of the URL configuration, asked by four roles (anonymous,
a user, staff without permissions, staff with them). The table is checked against the URL configuration, so a
new URL without an entry here fails the first test; refused writes change nothing."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.dashboard.routing import websocket_urlpatterns
from apps.federated.models import Experiment, Round
from apps.ledger.models import Record
from fedchain_site.asgi import application
from tests.conftest import grant_experiment_permissions

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "user", "staff", "permitted")
# The answer is the same for every role, and never 401, 403 or a 5xx: anyone may read it.
PUBLIC = "public"
# Refused to anyone who is not permitted: the status per role.
PAGE_WRITE = {"anonymous": 302, "user": 403, "staff": 403, "permitted": 302}  # to the login page, 403, done
API_WRITE = {"anonymous": 401, "user": 403, "staff": 403, "permitted": 200}

# name -> [(method, path, expected)]; {e} is an experiment, {r} a recorded round, {tx} a txid, {m} a model hash.
MATRIX = {
    "healthz": [("GET", "/healthz/", PUBLIC)],
    "favicon": [("GET", "/favicon.ico", PUBLIC)],
    "dashboard:overview": [("GET", "/", PUBLIC)],
    "dashboard:demo": [("POST", "/demo/", PUBLIC)],  # offered on a first run only: here it just redirects
    "dashboard:experiments": [("GET", "/experiments/", PUBLIC)],
    "dashboard:experiment_new": [("GET", "/experiments/new/", {**PAGE_WRITE, "permitted": 200})],
    "dashboard:experiment": [("GET", "/experiments/{e}/", PUBLIC)],
    "dashboard:experiment_clients": [("GET", "/experiments/{e}/clients.json", PUBLIC)],
    "dashboard:compare": [("GET", "/compare/?ids={e}", PUBLIC)],
    "dashboard:scenarios": [("GET", "/scenarios/", PUBLIC)],
    "dashboard:scenario_tamper": [("GET", "/scenarios/tamper/", PUBLIC)],
    "dashboard:scenario_tamper_check": [("GET", "/scenarios/tamper/check.json", PUBLIC)],
    "dashboard:scenario_start": [("POST", "/scenarios/no-such-scenario/", {**PAGE_WRITE, "permitted": 404})],
    "dashboard:experiment_download": [("GET", "/experiments/{e}/rounds.csv", PUBLIC)],
    "dashboard:experiment_control": [("POST", "/experiments/{e}/pause/", PAGE_WRITE)],
    "explorer:blocks": [("GET", "/blocks/", PUBLIC)],
    "explorer:block": [("GET", "/blocks/1/", PUBLIC)],
    "explorer:record": [("GET", "/tx/{tx}/", PUBLIC)],
    "explorer:search": [("GET", "/search?q=1", PUBLIC)],
    "explorer:chain": [("GET", "/chain/", PUBLIC)],
    "experiments:round": [
        ("GET", "/experiments/{e}/rounds/{r}/", PUBLIC),
        ("POST", "/experiments/{e}/rounds/{r}/", {"anonymous": 401, "user": 403, "staff": 403, "permitted": 302}),
    ],
    "api:schema": [("GET", "/api/schema/", PUBLIC)],
    "api:docs": [("GET", "/api/docs/", PUBLIC)],
    "api:chain": [("GET", "/api/chain/", PUBLIC)],
    "api:blocks": [("GET", "/api/blocks/", PUBLIC)],
    "api:block": [("GET", "/api/blocks/1/", PUBLIC)],
    "api:record": [("GET", "/api/tx/{tx}/", PUBLIC)],
    "api:proof": [("GET", "/api/tx/{tx}/proof/", PUBLIC)],
    "api:experiments": [
        ("GET", "/api/experiments/", PUBLIC),
        ("POST", "/api/experiments/", {**API_WRITE, "permitted": 201}),
    ],
    "api:experiment": [("GET", "/api/experiments/{e}/", PUBLIC)],
    "api:rounds": [("GET", "/api/experiments/{e}/rounds/", PUBLIC)],
    "api:experiment_pause": [("POST", "/api/experiments/{e}/pause/", API_WRITE)],
    "api:experiment_resume": [("POST", "/api/experiments/{e}/resume/", {**API_WRITE, "permitted": 409})],
    "api:experiment_cancel": [("POST", "/api/experiments/{e}/cancel/", API_WRITE)],
    "api:model": [("GET", "/api/models/{m}/", PUBLIC)],
    "api:balances": [("GET", "/api/experiments/{e}/balances/", PUBLIC)],
    "api:client": [("GET", "/api/experiments/{e}/clients/0/", PUBLIC)],
    "experiments:client": [("GET", "/experiments/{e}/clients/0/", PUBLIC)],
    "dashboard:network": [("GET", "/network/", PUBLIC)],
    "api:network": [("GET", "/api/network/", PUBLIC)],
    # Flower's endpoints take an API token (Bearer) only: a session or Basic credentials do not count.
    "api:flower_experiments": [("POST", "/api/flower/experiments/", dict.fromkeys(ROLES, 401))],
    "api:flower_rounds": [("POST", "/api/flower/experiments/{e}/rounds/", dict.fromkeys(ROLES, 401))],
    "api:not_found": [("GET", "/api/nothing/", dict.fromkeys(ROLES, 404))],
    # The peer protocol: nodes are anonymous to each other (a peer is known by what it sends, not an account).
    "p2p:hello": [("GET", "/p2p/v1/hello", PUBLIC)],
    "p2p:peers": [("GET", "/p2p/v1/peers", PUBLIC)],
    "p2p:inv": [("POST", "/p2p/v1/inv", PUBLIC)],
    "p2p:headers": [("GET", "/p2p/v1/headers", PUBLIC)],
    "p2p:blocks": [("GET", "/p2p/v1/blocks?hashes=" + "0" * 64, PUBLIC)],
    "p2p:block": [("GET", "/p2p/v1/blocks/" + "0" * 64, PUBLIC)],
    "p2p:batches": [("GET", "/p2p/v1/batches", PUBLIC)],
    "p2p:batch": [("GET", "/p2p/v1/batches/{e}/{r}", PUBLIC)],
    "p2p:blob": [("GET", "/p2p/v1/blobs/{m}", PUBLIC)],
}
# The admin checks Django's permissions itself; these of its pages stand for the rest.
ADMIN = [
    ("GET", "/admin/", {"anonymous": 302, "user": 302, "staff": 200, "permitted": 200}),
    ("GET", "/admin/federated/experiment/", {"anonymous": 302, "user": 302, "staff": 403, "permitted": 200}),
    ("GET", "/admin/federated/experiment/add/", {"anonymous": 302, "user": 302, "staff": 403, "permitted": 200}),
]
# Websockets: live, read-only data for anyone; the only message a client sends is its opening one.
WEBSOCKETS = {"ws/dashboard/": "/ws/dashboard/", "ws/experiments/<int:experiment_id>/": "/ws/experiments/{e}/",
              "": "/ws/nothing/"}


def url_names(patterns, namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            if namespace and pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}"
            yield from url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_every_url_and_websocket_has_an_entry_and_every_entry_a_url():
    names = {name for name in url_names(get_resolver().url_patterns) if not name.startswith("admin:")}
    assert names - set(MATRIX) == set(), "URLs without an entry in MATRIX: say who may use them"
    assert set(MATRIX) - names == set(), "entries of MATRIX for URLs that are gone"
    assert {str(pattern.pattern) for pattern in websocket_urlpatterns} == set(WEBSOCKETS)


@pytest.fixture
def world(experiment_chain, settings):
    settings.FEDCHAIN_P2P_RATE = 10_000  # the peer protocol's per-address rate limit is not what is tested here
    model = Round.objects.get(experiment=experiment_chain, number=1).global_model_hash
    txid = Record.objects.filter(experiment_id=experiment_chain.id).first().txid
    users = get_user_model().objects
    clients = {"anonymous": Client()}
    for role, staff in (("user", False), ("staff", True), ("permitted", True)):
        user = users.create_user(role, password="pw-for-tests-only", is_staff=staff)
        if role == "permitted":
            grant_experiment_permissions(user, ["add_experiment", "change_experiment", "view_experiment"])
        clients[role] = Client()
        clients[role].force_login(user)
    Experiment.objects.filter(pk=experiment_chain.pk).update(status=Experiment.Status.RUNNING)
    return {"clients": clients, "e": experiment_chain.id, "r": 1, "tx": txid, "m": model}


def ask(world, role, method, path):
    path = path.format(**{key: world[key] for key in ("e", "r", "tx", "m")})
    client = world["clients"][role]
    if method == "GET":
        return client.get(path)
    return client.post(path, json.dumps({"rounds": 1, "dataset": "iris", "clients": 3}), content_type="application/json")


def state():
    return list(Experiment.objects.order_by("pk").values_list("pk", "status")), Round.objects.count()


def test_each_role_gets_what_the_matrix_says(world):
    wrong = {}
    for name, checks in sorted(MATRIX.items()):
        for method, path, expected in checks:
            Experiment.objects.filter(pk=world["e"]).update(status=Experiment.Status.RUNNING)  # as each check expects
            answers = {}
            for role in ROLES:
                before = state()
                answers[role] = ask(world, role, method, path).status_code
                if expected != PUBLIC and method == "POST" and role != "permitted" and answers[role] in (302, 401, 403):
                    assert state() == before, f"{role}'s refused {method} {path} changed something"
            if expected == PUBLIC:
                ok = len(set(answers.values())) == 1 and answers["anonymous"] not in (401, 403) and answers["anonymous"] < 500
            else:
                ok = answers == expected
            if not ok:
                wrong[f"{name}: {method} {path}"] = answers
    assert not wrong, wrong


def test_the_admin_checks_the_permissions(world):
    for method, path, expected in ADMIN:
        assert {role: ask(world, role, method, path).status_code for role in ROLES} == expected, path


@pytest.mark.django_db(transaction=True)
async def test_each_role_may_follow_the_live_streams_and_nothing_else(world):
    for route, role in [(route, role) for route in sorted(WEBSOCKETS) for role in ROLES]:
        path = WEBSOCKETS[route].format(e=world["e"])
        cookie = world["clients"][role].cookies.get("sessionid")
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie.value}".encode()))
        socket = WebsocketCommunicator(application, path, headers=headers)
        assert (await socket.connect())[0]
        if route:
            await socket.send_to(text_data='{"type": "snapshot"}')
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot", (route, role)
            await socket.send_to(text_data='{"type": "resume", "after": 0}')  # no second message, whoever asks
        assert (await socket.receive_output(timeout=5))["type"] == "websocket.close", (route, role)

