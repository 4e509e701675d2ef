"""The JSON API, described by openapi.SCHEMA (served at /api/schema/): reads for anyone, experiment control
(create and start: Django's federated.add_experiment permission; pause, resume, cancel: change_experiment)."""

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import JsonResponse

from apps.core.streaming import ChunkedResponse
from apps.federated.blobs import (
    MAX_HEADER_BYTES,
    BlobFormatError,
    params_layout,
    params_npz_chunks,
    params_npz_size,
)
from apps.federated.lifecycle import (
    LifecycleError,
    experiment_cancel,
    experiment_launch,
    experiment_pause,
    experiment_resume,
)
from apps.federated.config import ConfigError, experiment_config_validate
from apps.federated.definitions import NAME_LENGTH, json_type_refusals
from apps.federated.selectors import client_history, experiment_balances
from apps.network.selectors import network_overview

from . import selectors
from .errors import BadRequest, Conflict, InvalidSettings, NotFound
from .http import api_action_view, api_view, api_write_view, json_body
from .openapi import DEFAULT_PAGE, MAX_PAGE, SCHEMA
from .params import parse_block_ref, parse_digest, parse_integer, parse_limit, parse_optional_integer

NAME_RULE = f"must be a string of at most {NAME_LENGTH} printable characters (no control characters such as NUL)"


def page_arguments(request):
    """The keyset cursor and page size of a list request."""
    before = parse_optional_integer(request.GET.get("before"), name="before")
    limit = parse_limit(request.GET.get("limit"), default=DEFAULT_PAGE, maximum=MAX_PAGE)
    return before, limit


def next_page_url(request, next_before, limit):
    if next_before is None:
        return None
    return f"{request.path}?{urlencode({'before': next_before, 'limit': limit})}"


@api_view
def schema(request):
    return JsonResponse(SCHEMA, json_dumps_params={"indent": 1})


@api_view
def chain(request):
    return selectors.chain_overview()


@api_view
def network(request):
    return network_overview()


@api_view
def block_list(request):
    before, limit = page_arguments(request)
    blocks, next_before = selectors.block_page(before=before, limit=limit)
    return {"blocks": blocks, "next_before": next_before, "next": next_page_url(request, next_before, limit)}


def block_arguments(request, ref):
    """The block, and the cursor and size of its page of records, a block request names."""
    block = selectors.block_find(*parse_block_ref(ref))
    after = parse_optional_integer(request.GET.get("after"), name="after")
    limit = parse_limit(request.GET.get("limit"), default=selectors.RECORDS_PAGE, maximum=selectors.RECORDS_PAGE)
    return block, after, limit


@api_view
def block_detail(request, ref):
    block, after, limit = block_arguments(request, ref)
    detail = selectors.block_detail(block, after=after, limit=limit)
    following = detail["tx_next_after"]
    detail["tx_next"] = None if following is None else f"{request.path}?{urlencode({'after': following, 'limit': limit})}"
    return detail


@api_view
def record_detail(request, txid):
    return selectors.record_detail(selectors.record_find(parse_digest(txid, name="txid")))


@api_view
def record_proof(request, txid):
    return selectors.record_proof(selectors.record_find(parse_digest(txid, name="txid")))


@api_write_view
def experiment_list(request):
    if request.method == "POST":
        return _experiment_create(request)
    before, limit = page_arguments(request)
    experiments, next_before = selectors.experiment_page(before=before, limit=limit)
    return {"experiments": experiments, "next_before": next_before, "next": next_page_url(request, next_before, limit)}


def _experiment(experiment_id):
    return selectors.experiment_find(parse_integer(experiment_id, name="id"))


@api_view
def experiment_detail(request, experiment_id):
    return selectors.experiment_detail(_experiment(experiment_id))


def _experiment_create(request):
    settings = json_body(request)
    if "owner" in settings:
        raise InvalidSettings("The experiment's owner is whoever creates it.",
                              fields={"owner": ["unknown setting: the owner is the authenticated user"]})
    name = settings.pop("name", "")
    if not isinstance(name, str) or len(name) > NAME_LENGTH or not name.isprintable():
        raise InvalidSettings("The experiment's name is not valid.", fields={"name": [NAME_RULE]})
    _refuse_wrong_json_types(settings)
    try:
        experiment = experiment_launch(name=name, owner=request.user, **settings)
    except ValidationError as error:
        raise InvalidSettings("These settings do not make a valid experiment.", fields=error.message_dict) from None
    response = JsonResponse(selectors.experiment_detail(experiment), status=201, json_dumps_params={"ensure_ascii": False})
    response["Location"] = f"/api/experiments/{experiment.id}/"
    return response


def _refuse_wrong_json_types(settings):
    """The API takes JSON as its schema types it ("clients": 3, not "3"); the validation then checks the bounds.
    A refusal names the other settings' problems too."""
    wrong_types = json_type_refusals(settings)
    if not wrong_types:
        return
    try:
        experiment_config_validate({name: value for name, value in settings.items() if name not in wrong_types})
        others = {}
    except ConfigError as error:
        others = error.errors
    raise InvalidSettings("These settings do not make a valid experiment.", fields={**others, **wrong_types})


def _lifecycle_view(change):
    @api_action_view
    def view(request, experiment_id):
        experiment = _experiment(experiment_id)
        try:
            return selectors.experiment_detail(change(experiment=experiment))
        except LifecycleError as error:
            raise Conflict(str(error), error="status_conflict") from None

    return view


experiment_pause_view = _lifecycle_view(experiment_pause)
experiment_resume_view = _lifecycle_view(experiment_resume)
experiment_cancel_view = _lifecycle_view(experiment_cancel)


@api_view
def balances(request, experiment_id):
    return experiment_balances(_experiment(experiment_id))


@api_view
def client_detail(request, experiment_id, index):
    experiment = _experiment(experiment_id)
    return client_history(selectors.client_find(experiment, parse_integer(index, name="index")))


@api_view
def round_list(request, experiment_id):
    experiment = _experiment(experiment_id)
    after = parse_optional_integer(request.GET.get("after"), name="after")
    limit = parse_limit(request.GET.get("limit"), default=DEFAULT_PAGE, maximum=MAX_PAGE)
    rounds, next_after = selectors.experiment_rounds(experiment, after=after, limit=limit)
    next_url = None if next_after is None else f"{request.path}?{urlencode({'after': next_after, 'limit': limit})}"
    return {"experiment": experiment.id, "rounds": rounds, "next_after": next_after, "next": next_url}


@api_view
def model_blob(request, sha256):
    digest = parse_digest(sha256, name="sha256")
    kind = request.GET.get("format", "fcmp")
    if kind not in ("fcmp", "npz"):
        raise BadRequest(f"format must be fcmp (the blob the chain commits to) or npz, not {kind[:20]!r}.")
    blob = selectors.model_blob(digest)
    if kind == "npz":
        try:
            shapes, offset = params_layout(blob.read(0, MAX_HEADER_BYTES), blob.size)
        except BlobFormatError as error:
            raise BadRequest(f"The blob {digest} is not a model's parameters, so it has no .npz form: {error}") from None
        chunks, size = params_npz_chunks(shapes, offset, blob.chunks()), params_npz_size(shapes)
    else:
        chunks, size = blob.chunks(), blob.size
    # Streamed a slice at a time (a blob may be hundreds of megabytes); a HEAD reads no more than the check did.
    response = ChunkedResponse(() if request.method == "HEAD" else chunks, content_type="application/octet-stream")
    response["Content-Length"] = size
    response["Content-Disposition"] = f'attachment; filename="{digest}.{"bin" if kind == "fcmp" else "npz"}"'
    # Content-addressed: the bytes under a name never change.
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@api_view
def not_found(request):
    raise NotFound(f"There is no API endpoint at {request.path[:200]}; the API is described at /api/schema/ (interactively at /api/docs/).")
