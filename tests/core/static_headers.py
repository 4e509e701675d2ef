"""Prints, as JSON, the status and headers FedChain's ASGI application (the one Daphne serves) answers a GET of
each static file named on the command line with, from the static files collected in FEDCHAIN_STATIC_ROOT.

Run as a process of its own (`python -m tests.core.static_headers NAME...`) so that the settings come from that
process's environment: production settings (DJANGO_DEBUG=0) cannot be switched on inside a test run.
"""

import asyncio
import json
import os
import sys

from tests.asgi import asgi_get


def main(names):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedchain_site.settings")
    from fedchain_site.asgi import application  # sets Django up

    from django.conf import settings
    from django.templatetags.static import static

    host = settings.ALLOWED_HOSTS[0]
    answers = {}
    for name in names:
        status, headers, _ = asyncio.run(asgi_get(application, static(name), host=host))
        answers[name] = {"status": status, "headers": headers}
    print(json.dumps({"debug": settings.DEBUG, "answers": answers}))


if __name__ == "__main__":
    main(sys.argv[1:])
