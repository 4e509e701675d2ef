from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def favicon(request):
    """The icon under its content-hashed name, looked up per request: the name changes with the file (so the
    redirect is not permanent), and the static files' manifest exists only once they are collected."""
    return redirect(static("favicon.svg"))
