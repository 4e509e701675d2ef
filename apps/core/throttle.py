"""What a client refused by login throttling (django-axes, see settings) gets: JSON under /api/, a page elsewhere."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def lockout_response(request, *args):
    """django-axes' AXES_LOCKOUT_CALLABLE. Its synchronous and asynchronous middleware pass different extra
    arguments (the original response and the credentials, or the credentials only): neither is needed here."""
    minutes = settings.AXES_COOLOFF_MINUTES
    detail = (f"Too many failed logins from this address: authentication is refused for {minutes} minutes after the "
              "last failure.")
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": "too_many_attempts", "detail": detail}, status=429)
    else:
        response = render(request, "429.html", {"detail": detail}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
