"""How explorer views answer: JSON for the API, friendly pages for people; refusals are 4xx, never a 500."""

import functools

from django.http import Http404, JsonResponse
from django.shortcuts import render

from .errors import ExplorerError, NotFound

READ_METHODS = ("GET", "HEAD")


class MethodNotAllowed(ExplorerError):
    status = 405
    error = "method_not_allowed"


def _allow_reads(response, error):
    if error.status == 405:
        response["Allow"] = ", ".join(READ_METHODS)
    return response


def json_error(request, error):
    return _allow_reads(JsonResponse(error.as_dict(), status=error.status), error)


def error_page(request, error):
    return _allow_reads(render(request, "explorer/error.html", {"error": error}, status=error.status), error)


def _as_json(result):
    if isinstance(result, dict):
        return JsonResponse(result, json_dumps_params={"ensure_ascii": False})
    return result


def _read_only(refuse, answer=lambda result: result):
    """A GET-only view whose refusals (ExplorerError, Http404) are answered by `refuse(request, error)`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in READ_METHODS:
                message = f"{request.method} is not allowed here: the explorer is read-only (use GET)."
                return refuse(request, MethodNotAllowed(message))
            try:
                return answer(view(request, *args, **kwargs))
            except ExplorerError as error:
                return refuse(request, error)
            except Http404 as missing:
                return refuse(request, NotFound(str(missing) or "Nothing here."))

        return wrapper

    return decorate


# A JSON endpoint: a returned dict becomes the body; refusals are {"error", "detail"} with a 4xx status.
api_view = _read_only(json_error, _as_json)
# An HTML page: refusals render the explorer's error page with their status.
page_view = _read_only(error_page)
