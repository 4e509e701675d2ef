"""The API of external federations: tokens, declarations and round submissions, and what they refuse."""

import asyncio
import hashlib
import io
import json
import math

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg, FedMedian, Krum, MultiKrum
from flwr.supercore.task_identity import TaskIdentity

from apps.core.bodylimit import BodyLimit
from apps.explorer.flower_api import request_body_limit
from apps.federated import flower
from apps.federated.blobs import params_parse, params_serialize
from apps.federated.models import Blob, Experiment, Round
from apps.federated.selectors import round_audit
from apps.ledger.models import PendingBatch
from apps.ledger.store import block_mine
from apps.tokens.models import ApiToken
from apps.tokens.services import api_token_create, api_token_revoke
from fedchain_flower.recorder import _settings_of
from fedchain_flower.wire import blob_of

pytestmark = pytest.mark.django_db
LAYERS = [{"name": "w", "shape": [3, 2], "dtype": "float64"}, {"name": "b", "shape": [2], "dtype": "float64"}]
STRATEGY = {"name": "FedAvg", "module": "flwr.serverapp.strategy.fedavg", "flower": "1.42.0", "settings": {}}


@pytest.fixture
def token():
    user = get_user_model().objects.create_user("researcher")
    return api_token_create(user=user, name="test")[1]


def _auth(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _declare(client, token, **extra):
    body = {"name": "external", "layers": LAYERS, "strategy": STRATEGY, "rounds": 2, **extra}
    return client.post("/api/flower/experiments/", json.dumps(body), content_type="application/json", **_auth(token))


def _blob(seed, *, nan=False, shapes=((3, 2), (2,))):
    flat = np.random.default_rng(seed).normal(size=sum(math.prod(s) for s in shapes))
    if nan:
        flat[1] = np.nan
    return params_serialize(shapes, flat)


def _submit(client, token, experiment_id, number, blobs, *, global_model=None, tamper=None):
    """Submits round `number` with updates from `blobs` (the first blob is the global model in round 0)."""
    named = {hashlib.sha256(b).hexdigest(): b for b in blobs}
    digests = list(named)
    if number == 0:
        submission = {"round": 0, "global_model": digests[0], "loss": 2.3, "accuracy": 0.1, "updates": []}
    else:
        updates = [{"node": f"node-{i}", "samples": 10 + i, "update": d, "metrics": {"train_loss": 0.5}}
                   for i, d in enumerate(digests)]
        if global_model is None:
            global_model = flower.rederive(flower.FEDAVG, LAYERS, [params_parse(b)[1] for b in blobs],
                                           [u["samples"] for u in updates])
        named[hashlib.sha256(global_model).hexdigest()] = global_model
        submission = {"round": number, "global_model": hashlib.sha256(global_model).hexdigest(), "loss": 1.0,
                      "accuracy": 0.5, "updates": updates, "dropped": 0}
    if tamper:
        named = tamper(named)
    return client.generic("POST", f"/api/flower/experiments/{experiment_id}/rounds/",
                          flower.upload_encode(submission, named), content_type=flower.UPLOAD_CONTENT_TYPE,
                          **_auth(token))


def _stored():
    return Round.objects.count(), Blob.objects.count(), PendingBatch.objects.count()


def test_tokens_are_hashed_at_rest_scoped_and_revocable(client):
    user = get_user_model().objects.create_user("someone")
    row, token = api_token_create(user=user, name="ci")
    assert token.startswith("fct_") and token not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert _declare(client, token).status_code == 201
    api_token_revoke(token=row)
    answer = _declare(client, token)
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]


def test_api_token_command_creates_lists_and_revokes(capsys):
    get_user_model().objects.create_user("cli-user")
    call_command("api_token", "create", "cli-user", "--name", "lab")
    token = capsys.readouterr().out.strip()
    assert ApiToken.objects.get().digest == hashlib.sha256(token.encode()).hexdigest()
    call_command("api_token", "list")
    assert token not in capsys.readouterr().out
    call_command("api_token", "revoke", token[:12])
    assert ApiToken.objects.get().revoked_at is not None


def test_a_bad_token_or_the_admin_password_is_refused_and_nothing_is_stored(client, token, admin_user):
    before = Experiment.objects.count()
    for header in ("", "Bearer fct_" + "x" * 40, "Bearer nonsense", "Basic YWRtaW46cGFzc3dvcmQ="):
        answer = client.post("/api/flower/experiments/", json.dumps({"layers": LAYERS, "strategy": STRATEGY}),
                             content_type="application/json", HTTP_AUTHORIZATION=header)
        assert answer.status_code == 401 and answer.json()["error"] == "bad_token", header
    assert Experiment.objects.count() == before


def test_a_declaration_repeated_with_its_key_returns_the_same_experiment(client, token):
    first = _declare(client, token, key="a" * 32)
    again = _declare(client, token, key="a" * 32)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    experiment = Experiment.objects.get(pk=first.json()["id"])
    assert experiment.kind == "flower" and experiment.external["rule"] == flower.FEDAVG
    assert _declare(client, token, layers=[{"name": "w", "shape": [2], "dtype": "int8"}]).status_code == 400


@pytest.mark.parametrize("problem", ["hash", "nan", "shape", "unnamed"])
def test_bad_rounds_are_refused_with_a_clear_error_and_nothing_is_stored(client, token, problem):
    experiment_id = _declare(client, token).json()["id"]
    assert _submit(client, token, experiment_id, 0, [_blob(0)]).status_code == 201
    before = _stored()
    blobs = [_blob(1), _blob(2)]
    tamper, expected = None, ""
    if problem == "hash":
        def tamper(named):
            name = next(iter(named))
            return {**named, name: named[name][:-1] + b"\x00"}
        expected = "hashes to"
    elif problem == "nan":
        blobs[1] = _blob(2, nan=True)
        expected = "non-finite"
    elif problem == "shape":
        blobs[1] = _blob(2, shapes=((2, 3), (2,)))
        expected = "shapes"
    else:
        def tamper(named):
            return {**named, "0" * 64: _blob(9)}
        expected = "not named"
    answer = _submit(client, token, experiment_id, 1, blobs, global_model=_blob(5), tamper=tamper)
    assert answer.status_code == 400, answer.content
    assert expected in answer.json()["detail"]
    assert _stored() == before


def test_rounds_are_recorded_in_order_once_mined_and_audited(client, token):
    experiment_id = _declare(client, token).json()["id"]
    assert _submit(client, token, experiment_id, 1, [_blob(1)]).status_code == 409  # round 0 first
    assert _submit(client, token, experiment_id, 0, [_blob(0)]).status_code == 201
    assert _submit(client, token, experiment_id, 0, [_blob(0)]).status_code == 200  # a retry: the same round
    assert _submit(client, token, experiment_id, 0, [_blob(7)]).status_code == 409  # another round 0
    assert _submit(client, token, experiment_id, 1, [_blob(1), _blob(2), _blob(3)]).status_code == 201
    other = get_user_model().objects.create_user("other")
    other_token = api_token_create(user=other, name="x")[1]
    assert _submit(client, other_token, experiment_id, 2, [_blob(4)]).status_code == 403
    experiment = Experiment.objects.get(pk=experiment_id)
    for batch in PendingBatch.objects.filter(experiment_id=experiment_id).order_by("round_number"):
        block_mine(batch=batch)
    assert round_audit(experiment=experiment, number=0).ok
    assert round_audit(experiment=experiment, number=1).ok
    # As another node audits it: from the chain's experiment record alone.
    from_chain = round_audit(experiment_id=experiment_id, number=1)
    assert from_chain.ok and from_chain.rule == flower.FEDAVG


def test_the_audit_fails_a_round_whose_aggregate_is_not_what_fedavg_computes(client, token):
    experiment_id = _declare(client, token).json()["id"]
    _submit(client, token, experiment_id, 0, [_blob(0)])
    # Our own FedAvg arithmetic ((w/N) * x summed from zero) is not Flower's: the last bits differ.
    updates = [params_parse(_blob(s))[1] for s in (1, 2, 3)]
    weights = [10, 11, 12]
    ours = sum((w / sum(weights)) * u for u, w in zip(updates, weights))
    wrong = params_serialize([(3, 2), (2,)], ours + 1e-9)
    assert _submit(client, token, experiment_id, 1, [_blob(s) for s in (1, 2, 3)], global_model=wrong).status_code == 201
    for batch in PendingBatch.objects.filter(experiment_id=experiment_id).order_by("round_number"):
        block_mine(batch=batch)
    report = round_audit(experiment=Experiment.objects.get(pk=experiment_id), number=1)
    assert not report.ok and "flower-fedavg re-derives" in report.problems[0]


def _replies(arrays_list, weights):
    replies = []
    for arrays, weight in zip(arrays_list, weights):
        content = RecordDict({"arrays": ArrayRecord({k: Array(v) for k, v in arrays.items()}),
                              "metrics": MetricRecord({"num-examples": weight})})
        replies.append(Message(content=content, dst_node_id=0, message_type="train"))
    return replies


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("strategy, rule", [
    (FedAvg(), flower.FEDAVG),
    (FedMedian(), flower.FEDMEDIAN),
    (Krum(num_malicious_nodes=1), flower.MULTIKRUM),
    (MultiKrum(num_malicious_nodes=1, num_nodes_to_select=3), flower.MULTIKRUM),
], ids=["fedavg", "fedmedian", "krum", "multikrum"])
def test_rederive_is_flowers_own_aggregate_bit_for_bit(strategy, rule, dtype, monkeypatch):
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)  # what a ServerApp process has; messages take it
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    rng = np.random.default_rng(3)
    arrays_list = [{"w": rng.normal(size=(3, 2)).astype(dtype), "b": rng.normal(size=2).astype(dtype)}
                   for _ in range(6)]
    arrays_list[4] = {key: value * 50 for key, value in arrays_list[4].items()}  # an outlier Krum leaves out
    weights = [7, 13, 2, 9, 4, 5]
    layers = [{"name": "w", "shape": [3, 2], "dtype": dtype}, {"name": "b", "shape": [2], "dtype": dtype}]
    flowers, _ = strategy.aggregate_train(1, _replies(arrays_list, weights))
    updates = [params_parse(blob_of(ArrayRecord({k: Array(v) for k, v in a.items()}))[1])[1] for a in arrays_list]
    settings = _settings_of(strategy)
    assert flower.rule_for({"name": type(strategy).__name__, "module": type(strategy).__module__,
                            "flower": "1.42.0", "settings": settings}) == rule
    assert flower.rederive(rule, layers, updates, weights, settings) == blob_of(flowers)[1]
    chosen = flower.selected(rule, settings, layers, updates)
    assert (4 not in chosen) if rule == flower.MULTIKRUM else chosen == list(range(6))


def test_oversized_bodies_are_refused_before_any_is_read():
    async def app(scope, receive, send):
        raise AssertionError("the application must not run")

    async def receive():
        raise AssertionError("the body must not be read")

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/flower/experiments/1/rounds/",
             "headers": [(b"content-length", str(100 * 1024 * 1024).encode())]}
    asyncio.run(BodyLimit(app, request_body_limit)(scope, receive, send))
    assert sent[0]["status"] == 413 and b"at most" in sent[1]["body"]
    scope["headers"] = []
    sent.clear()
    asyncio.run(BodyLimit(app, request_body_limit)(scope, receive, send))
    assert sent[0]["status"] == 411


def test_an_external_experiment_is_shown_like_any_other(client, token):
    experiment_id = _declare(client, token).json()["id"]
    assert client.get(f"/experiments/{experiment_id}/").status_code == 200  # declared, no node seen yet
    _submit(client, token, experiment_id, 0, [_blob(0)])
    _submit(client, token, experiment_id, 1, [_blob(1), _blob(2)])
    for batch in PendingBatch.objects.filter(experiment_id=experiment_id).order_by("round_number"):
        block_mine(batch=batch)
    page = client.get(f"/experiments/{experiment_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Flower federation" in text and "flower-fedavg" in text and "w 3×2 float64" in text
    assert client.get("/").status_code == 200
    detail = client.get(f"/api/experiments/{experiment_id}/").json()
    assert [row["round"] for row in detail["metrics"]] == [0, 1]
    assert client.get(f"/experiments/{experiment_id}/rounds/1/").status_code == 200


def test_krum_rounds_record_which_updates_it_left_out_and_audit(client, token):
    krum = {"name": "Krum", "module": "flwr.serverapp.strategy.krum", "flower": "1.42.0",
            "settings": {"num_malicious_nodes": 1, "num_nodes_to_select": 1, "weighted_by_key": "num-examples"}}
    experiment_id = _declare(client, token, strategy=krum).json()["id"]
    assert Experiment.objects.get(pk=experiment_id).external["rule"] == flower.MULTIKRUM
    _submit(client, token, experiment_id, 0, [_blob(0)])
    blobs = [_blob(s) for s in (1, 2, 3, 4)]
    outlier = params_serialize([(3, 2), (2,)], params_parse(blobs[2])[1] * 100)
    blobs[2] = outlier
    vectors = [params_parse(b)[1] for b in blobs]
    chosen = flower.selected(flower.MULTIKRUM, krum["settings"], LAYERS, vectors)
    global_model = flower.rederive(flower.MULTIKRUM, LAYERS, vectors, [10, 11, 12, 13], krum["settings"])
    assert _submit(client, token, experiment_id, 1, blobs, global_model=global_model).status_code == 201
    accepted = dict(Round.objects.get(experiment_id=experiment_id, number=1).update_set.values_list(
        "update_hash", "accepted"))
    assert [accepted[hashlib.sha256(b).hexdigest()] for b in blobs] == [i in chosen for i in range(4)]
    assert accepted[hashlib.sha256(outlier).hexdigest()] is False
    for batch in PendingBatch.objects.filter(experiment_id=experiment_id).order_by("round_number"):
        block_mine(batch=batch)
    assert round_audit(experiment=Experiment.objects.get(pk=experiment_id), number=1).ok


@pytest.mark.parametrize("body, expected", [
    (b"FC", "starts with"),
    (b"XXXX\x02\x00\x00\x00{}", "must start with"),
    (b"FCRD\xff\xff\x00\x00{}", "announces"),
    (flower.upload_encode({"round": 0}, {"a" * 64: b"123"})[:-1], "add up"),
    (b"FCRD\x02\x00\x00\x00[]", "the upload's JSON is"),
])
def test_malformed_uploads_are_refused_and_nothing_is_stored(client, token, body, expected):
    experiment_id = _declare(client, token).json()["id"]
    before = _stored()
    answer = client.generic("POST", f"/api/flower/experiments/{experiment_id}/rounds/", body,
                            content_type=flower.UPLOAD_CONTENT_TYPE, **_auth(token))
    assert answer.status_code == 400 and expected in answer.json()["detail"], answer.content
    assert _stored() == before


def test_audit_round_says_which_rule_it_re_derived_with(client, token, capsys):
    experiment_id = _declare(client, token).json()["id"]
    _submit(client, token, experiment_id, 0, [_blob(0)])
    _submit(client, token, experiment_id, 1, [_blob(1), _blob(2)])
    for batch in PendingBatch.objects.filter(experiment_id=experiment_id).order_by("round_number"):
        block_mine(batch=batch)
    call_command("audit_round", str(experiment_id), "0")
    call_command("audit_round", str(experiment_id), "1")
    out = capsys.readouterr().out
    assert "it is the ServerApp's initial model" in out and "re-derived global model (flower-fedavg)" in out


def test_admin_creates_a_token_and_shows_it_once(admin_client):
    user = get_user_model().objects.create_user("from-admin")
    answer = admin_client.post("/admin/tokens/apitoken/add/", {"user": user.pk, "name": "lab", "scopes": '["flower"]'},
                               follow=True)
    assert answer.status_code == 200
    row = ApiToken.objects.get(user=user)
    shown = [str(m) for m in answer.context["messages"]]
    token = next(word for m in shown for word in m.split() if word.startswith("fct_"))
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in admin_client.get(f"/admin/tokens/apitoken/{row.pk}/change/").content.decode()


def test_fedavg_weights_that_are_not_whole_numbers_are_re_derived_from_the_reported_metric(client, token):
    experiment_id = _declare(client, token).json()["id"]
    _submit(client, token, experiment_id, 0, [_blob(0)])
    blobs = [_blob(1), _blob(2)]
    weights = [2.5, 7.25]
    global_model = flower.rederive(flower.FEDAVG, LAYERS, [params_parse(b)[1] for b in blobs], weights)
    named = {hashlib.sha256(b).hexdigest(): b for b in [*blobs, global_model]}
    updates = [{"node": f"n{i}", "samples": 0, "update": hashlib.sha256(b).hexdigest(),
                "metrics": {"num-examples": w}} for i, (b, w) in enumerate(zip(blobs, weights))]
    submission = {"round": 1, "global_model": hashlib.sha256(global_model).hexdigest(), "loss": 1.0, "accuracy": 0.5,
                  "updates": updates}
    answer = client.generic("POST", f"/api/flower/experiments/{experiment_id}/rounds/",
                            flower.upload_encode(submission, named), content_type=flower.UPLOAD_CONTENT_TYPE,
                            **_auth(token))
    assert answer.status_code == 201, answer.content
    for batch in PendingBatch.objects.filter(experiment_id=experiment_id).order_by("round_number"):
        block_mine(batch=batch)
    assert round_audit(experiment=Experiment.objects.get(pk=experiment_id), number=1).ok
