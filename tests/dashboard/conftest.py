"""An in-process ASGI server (Daphne in a thread) and headless Chromium for the dashboard's browser tests."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import free_port, grant_experiment_permissions

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    """The project's ASGI application (HTTP, static files, websockets) on a free port of this process.

    pytest-django's live_server speaks WSGI only; this is Daphne, as in production. Twisted's reactor runs
    once per process, so the server lives for the whole session; each test brings its own database rows.
    """
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from twisted.internet import reactor

    from fedchain_site.asgi import application

    port = free_port()
    server = Server(
        application=application,
        endpoints=build_endpoint_description_strings(host="127.0.0.1", port=port),
        signal_handlers=False,
        verbosity=0,
    )
    thread = threading.Thread(target=server.run, name="daphne", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the in-process Daphne server did not start") from None
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    reactor.callFromThread(reactor.stop)
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, request):
    """A fresh browser tab; console errors and uncaught exceptions of the page fail the test, except those a
    test declares with page.allow_console_errors(substring, ...)."""
    # Playwright's wait_for_function evaluates its predicate with eval, which the pages' CSP forbids; the policy
    # itself is checked page by page in test_csp.py, in a context that does not bypass it.
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=request.node.get_closest_marker("csp") is None)
    page = context.new_page()
    problems, allowed = [], ["favicon.ico"]

    def on_console(message):
        text = f"{message.text} {(message.location or {}).get('url', '')}"
        if message.type == "error" and not any(substring in text for substring in allowed):
            problems.append(f"console: {message.text}")

    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("console", on_console)
    page.allow_console_errors = lambda *substrings: allowed.extend(substrings)
    yield page
    context.close()
    assert not problems, problems


def screenshot(page, name, *, full_page=True):
    """Saves a screenshot as a test artifact (test-artifacts/dashboard/<name>.png) and returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


PASSWORD = "a-password-for-tests-only"


def sign_in(page, base, next_path):
    """Signs in through the admin's login page as a new staff user allowed to create and control experiments."""
    from django.contrib.auth import get_user_model

    from tests.conftest import grant_experiment_permissions

    grant_experiment_permissions(get_user_model().objects.create_user("operator", password=PASSWORD, is_staff=True))
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


@pytest.fixture
def staff_client():
    """A logged-in staff user who may create and control experiments."""
    user = grant_experiment_permissions(
        get_user_model().objects.create_user("staff", password="pw-for-tests-only", is_staff=True)
    )
    staff = Client()
    staff.force_login(user)
    return staff
