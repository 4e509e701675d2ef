"""Prints, as JSON, the status and headers FedChain's ASGI application (the one Daphne serves) answers a GET of
each static file named on the command line with, from the static files collected in FEDCHAIN_STATIC_ROOT.

Run as a process of its own (`python -m tests.core.static_headers NAME...`) so that the settings come from that
process's environment: production settings (DJANGO_DEBUG=0) cannot be switched on inside a test run.
"""

import asyncio
import json
import os
import sys


async def asgi_get(application, path, host):
    """The response start message of a GET of `path` over HTTPS (as behind a TLS proxy or in production)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "https",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", host.encode())], "client": ("127.0.0.1", 50000), "server": (host, 443),
    }
    sent = []
    received = asyncio.Queue()
    received.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def send(message):
        sent.append(message)

    await application(scope, received.get, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    return {"status": start["status"], "headers": {name.decode().lower(): value.decode() for name, value in start["headers"]}}


def main(names):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedchain_site.settings")
    from fedchain_site.asgi import application  # sets Django up

    from django.conf import settings
    from django.templatetags.static import static

    host = settings.ALLOWED_HOSTS[0]
    answers = {name: asyncio.run(asgi_get(application, static(name), host)) for name in names}
    print(json.dumps({"debug": settings.DEBUG, "answers": answers}))


if __name__ == "__main__":
    main(sys.argv[1:])
