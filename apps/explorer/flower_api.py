"""The API of external (Flower) federations, authenticated by API tokens (apps.tokens) with the "flower" scope:

    POST /api/flower/experiments/               declare an experiment (JSON); 201, or 200 when the key repeats
    POST /api/flower/experiments/<id>/rounds/   submit a round (one body of type UPLOAD_CONTENT_TYPE: the round's
                                                JSON and its blobs, framed as flower.upload_encode does); 201, or
                                                200 for a repeated round

Refusals are {"error", "detail"} with a 4xx status and store nothing. Bodies larger than
FEDCHAIN_FLOWER_MAX_UPLOAD are refused by the ASGI guard before they are read (apps.core.bodylimit).
"""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.federated.external import SubmissionConflict, flower_experiment_declare, flower_round_submit
from apps.federated.flower import UPLOAD_CONTENT_TYPE, FlowerError, upload_decode
from apps.federated.models import Experiment
from apps.network import protocol
from apps.tokens.services import TokenRefused, api_token_authenticate

from .errors import BadRequest, Conflict, ExplorerError, Forbidden, NotFound, TooLarge, Unauthorized
from .http import MethodNotAllowed, json_body, json_error
from .params import parse_integer

FLOWER_PREFIX = "/api/flower/"
SCOPE = "flower"


def request_body_limit(path):
    """The largest request body accepted on `path` (None: Django's own limits apply). The node-to-node
    protocol's announcements are small: a peer's large body is refused before anything reads it."""
    if path.startswith(protocol.PREFIX):
        return protocol.MAX_REQUEST_BYTES
    return settings.FEDCHAIN_FLOWER_MAX_UPLOAD if path.startswith(FLOWER_PREFIX) else None


def _flower_view(view):
    """POST only, an API token with the flower scope, and every refusal a JSON 4xx."""

    @csrf_exempt  # no cookies are involved: the token in the Authorization header is the credential
    def wrapper(request, *args, **kwargs):
        try:
            if request.method != "POST":
                raise MethodNotAllowed(f"{request.method} is not allowed here.", allowed=("POST",))
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise BadRequest("Content-Length is not a number.") from None
            if length > settings.FEDCHAIN_FLOWER_MAX_UPLOAD:
                raise TooLarge(f"The body is {length} bytes; at most {settings.FEDCHAIN_FLOWER_MAX_UPLOAD} are taken.")
            try:
                user = api_token_authenticate(header=request.META.get("HTTP_AUTHORIZATION", ""), scope=SCOPE)
            except TokenRefused as error:
                raise Unauthorized(str(error), error="bad_token") from None
            return view(request, user, *args, **kwargs)
        except FlowerError as error:
            conflict = isinstance(error, SubmissionConflict)
            return json_error(request, (Conflict if conflict else BadRequest)(str(error), error="refused"))
        except ExplorerError as error:
            response = json_error(request, error)
            if isinstance(error, Unauthorized):
                response["WWW-Authenticate"] = 'Bearer realm="FedChain API"'
            return response

    return wrapper


@_flower_view
def experiment_declare(request, user):
    experiment, created = flower_experiment_declare(owner=user, declaration=json_body(request))
    return JsonResponse(
        {"id": experiment.id, "name": experiment.name, "rule": experiment.external["rule"], "created": created,
         "url": f"/experiments/{experiment.id}/"},
        status=201 if created else 200,
    )


@_flower_view
def round_submit(request, user, experiment_id):
    experiment = Experiment.objects.filter(pk=parse_integer(experiment_id, name="id")).first()
    if experiment is None:
        raise NotFound(f"There is no experiment {experiment_id}.")
    if experiment.owner_id != user.pk:
        raise Forbidden(f"Experiment {experiment.id} was not declared by {user.get_username()}.")
    if request.content_type not in (UPLOAD_CONTENT_TYPE, "application/octet-stream"):
        raise BadRequest(f"Send the round as {UPLOAD_CONTENT_TYPE} (apps/federated/flower.py says how it is framed).")
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    submission, blobs = upload_decode(request.read, length)
    round_row, created = flower_round_submit(experiment=experiment, submission=submission, blobs=blobs)
    return JsonResponse(
        {"experiment": experiment.id, "round": round_row.number, "global_model": round_row.global_model_hash,
         "created": created},
        status=201 if created else 200,
    )
