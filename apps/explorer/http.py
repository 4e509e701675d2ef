"""How explorer views answer: JSON for the API, friendly pages for people; refusals are 4xx, never a 500."""

import base64
import binascii
import functools
import json

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render

from .errors import BadRequest, ExplorerError, Forbidden, NotFound, TooLarge, Unauthorized

READ_METHODS = ("GET", "HEAD")
BASIC_REALM = "FedChain API"


class MethodNotAllowed(ExplorerError):
    status = 405
    error = "method_not_allowed"

    def __init__(self, detail, *, allowed):
        super().__init__(detail)
        self.allowed = allowed


def _headers(response, error):
    if isinstance(error, MethodNotAllowed):
        response["Allow"] = ", ".join(error.allowed)
    if isinstance(error, Unauthorized):
        response["WWW-Authenticate"] = f'Basic realm="{BASIC_REALM}", charset="UTF-8"'
    return response


def json_error(request, error):
    return _headers(JsonResponse(error.as_dict(), status=error.status), error)


def error_page(request, error):
    return _headers(render(request, "explorer/error.html", {"error": error}, status=error.status), error)


def _as_json(result):
    if isinstance(result, dict):
        return JsonResponse(result, json_dumps_params={"ensure_ascii": False})
    return result


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, run inside the view so a refusal is the API's JSON 403, not the HTML page."""

    def _reject(self, request, reason):
        return reason


def _csrf_refusal(request):
    """Why Django's CSRF protection refuses the request, or None when it passes."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def _basic_credentials(request):
    """(username, password) from an `Authorization: Basic` header, None without one; Unauthorized if malformed."""
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, colon, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The Basic credentials are not base64 of UTF-8 'username:password'.") from None
    if not colon:
        raise Unauthorized("The Basic credentials are not base64 of UTF-8 'username:password'.")
    return username, password


def _writer(request, permission):
    """The user a write comes from, who must have Django's `permission` (e.g. federated.add_experiment), or a
    refusal.

    Browsers use their session and send the CSRF token (header X-CSRFToken, the csrftoken cookie's value).
    Scripts may send HTTP Basic credentials instead: such a request is exempt from the CSRF
    check only when it carries no session cookie and no Origin header, which browsers send with every POST, so a
    page cannot ride on Basic credentials a browser has cached.
    """
    has_session = settings.SESSION_COOKIE_NAME in request.COOKIES
    credentials = None if has_session else _basic_credentials(request)
    if credentials is not None:
        user = authenticate(request, username=credentials[0], password=credentials[1])
        if user is None:
            raise Unauthorized("Wrong username or password, or the account is inactive.")
        request.user = user
        needs_csrf = "HTTP_ORIGIN" in request.META
    else:
        user = request.user
        if not user.is_authenticated:
            raise Unauthorized(
                "Writes need an account with permission to change experiments: log in (session, with the "
                "X-CSRFToken header) or send HTTP Basic credentials."
            )
        needs_csrf = True
    if needs_csrf:
        reason = _csrf_refusal(request)
        if reason is not None:
            raise Forbidden(
                f"CSRF check failed ({reason}): send the csrftoken cookie's value in the X-CSRFToken header.",
                error="csrf_failed",
            )
    if not user.has_perm(permission):
        raise Forbidden(f"{user.get_username()} does not have the permission {permission!r}.",
                        error="permission_denied")
    return user


def _view(refuse, answer=lambda result: result, *, reads=READ_METHODS, writes=(), permission=None):
    """A view answering `reads` to anyone and `writes` (e.g. POST) to users with Django's `permission` only;
    its refusals (ExplorerError, Http404) are answered by `refuse(request, error)`."""
    allowed = (*reads, *writes)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method not in allowed:
                    read_only = "" if writes else ": this is read-only (use GET)"
                    raise MethodNotAllowed(f"{request.method} is not allowed here{read_only}.", allowed=allowed)
                if request.method in writes:
                    _writer(request, permission)
                return answer(view(request, *args, **kwargs))
            except ExplorerError as error:
                return refuse(request, error)
            except Http404 as missing:
                return refuse(request, NotFound(str(missing) or "Nothing here."))

        # The CSRF check runs in _writer, after authentication, so that its refusal is JSON (or this view's
        # error page) and requests with Basic credentials can skip it; methods a view does not take are its 405,
        # not Django's HTML CSRF page.
        wrapper.csrf_exempt = True
        return wrapper

    return decorate


def json_body(request):
    """The request's body as a JSON object, or BadRequest."""
    try:
        body = json.loads(request.body.decode("utf-8"))
    except RequestDataTooBig:
        raise TooLarge(f"The body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes taken here.") from None
    except RecursionError:
        raise BadRequest("The body is not a settings object: its JSON is nested too deeply.", error="bad_json") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"The body is not JSON: {error}", error="bad_json") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.", error="bad_json")
    return body


# A JSON endpoint: a returned dict becomes the body; refusals are {"error", "detail"} with a 4xx status.
api_view = _view(json_error, _as_json)
# A JSON endpoint that users who may add experiments may also POST to (to create one).
api_write_view = _view(json_error, _as_json, writes=("POST",), permission="federated.add_experiment")
# A JSON endpoint only users who may change experiments may POST to, and nothing else.
api_action_view = _view(json_error, _as_json, reads=(), writes=("POST",), permission="federated.change_experiment")
# An HTML page: refusals render the explorer's error page with their status.
page_view = _view(error_page)


def page_post_view(permission):
    """An HTML page that users with Django's `permission` may also POST to."""
    return _view(error_page, writes=("POST",), permission=permission)
