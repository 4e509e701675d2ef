"""An ASGI guard that refuses an HTTP request whose body is too large before the application reads any of it.

Django's ASGI handler reads a request's whole body before a view runs; this guard looks at Content-Length first
and answers 413 (or 411 when a limited path gets a body of unknown length) with a JSON body, so an oversized
upload never reaches Django. Plain ASGI, no Django: it wraps the HTTP application in fedchain_site/asgi.py.
"""

import json


class BodyLimit:
    """Wraps an ASGI app: bodies over `limit(path)` bytes (None: no limit) are refused unread."""

    def __init__(self, app, limit):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        if limit is None:
            return await self.app(scope, receive, send)
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return await _refuse(send, 400, "bad_request", "Content-Length is not a number.")
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            return await _refuse(send, 411, "length_required", "Send the body with a Content-Length header.")
        if length is not None and length > limit:
            return await _refuse(
                send, 413, "too_large", f"The body is {length} bytes; this endpoint takes at most {limit} bytes."
            )
        return await self.app(scope, receive, send)


async def _refuse(send, status, error, detail):
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
