"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedchain_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.core.bodylimit import BodyLimit  # noqa: E402
from apps.core.staticfiles import require_collected_static_files  # noqa: E402
from apps.dashboard.routing import websocket_urlpatterns  # noqa: E402
from apps.explorer.flower_api import request_body_limit  # noqa: E402

require_collected_static_files()
application = ProtocolTypeRouter(
    {
        # Static files are served by WhiteNoise in Django (settings.MIDDLEWARE); oversized uploads are refused
        # before Django reads their bodies.
        "http": BodyLimit(django_asgi_app, request_body_limit),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
