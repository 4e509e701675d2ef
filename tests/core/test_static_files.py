"""Static files come from the app itself through WhiteNoise: compressed, under content-hashed names, cached."""

import json
import re

import pytest
from django.templatetags.static import static


def test_plotly_is_served_gzipped_under_a_hashed_name_cached_for_a_year(client):
    url = static("vendor/plotly/plotly.min.js")
    assert re.fullmatch(r"/static/vendor/plotly/plotly\.min\.[0-9a-f]{12}\.js", url)
    response = client.get(url, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"] and "max-age=315360000" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert len(body) < 2_000_000  # the 4.6 MB bundle, compressed


@pytest.mark.parametrize("name", ["explorer/proof.js", "admin/css/base.css"])
def test_our_files_and_the_admins_have_hashed_names(client, name):
    url = static(name)
    assert url != f"/static/{name}"
    assert client.get(url).status_code == 200


def test_only_plotlys_bundle_is_taken_from_the_plotly_package(client):
    assert client.get("/static/vendor/plotly/widgetbundle.js").status_code == 404


def test_favicon_ico_leads_to_the_icon_under_its_hashed_name(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == static("favicon.svg") != "/static/favicon.svg"
    assert client.get(response["Location"]).status_code == 200


def asgi_import(data_dir, debug):
    from tests.core.test_settings import PRODUCTION, run_manage

    environment = {**PRODUCTION, "DJANGO_DEBUG": debug, "FEDCHAIN_STATIC_ROOT": str(data_dir / "static")}
    return run_manage("shell", "-c", "import fedchain_site.asgi", env_overrides=environment, data_dir=data_dir)


def test_a_production_web_process_refuses_to_start_before_static_files_are_collected(tmp_path):
    done = asgi_import(tmp_path, debug="0")
    assert done.returncode != 0
    assert f"Static files are not collected into {tmp_path / 'static'}" in done.stderr
    assert "manage.py collectstatic --noinput" in done.stderr


def test_a_production_web_process_starts_once_they_are(tmp_path):
    from tests.core.test_settings import PRODUCTION, run_manage

    environment = {**PRODUCTION, "FEDCHAIN_STATIC_ROOT": str(tmp_path / "static")}
    collected = run_manage("collectstatic", "--noinput", "-v", "0", env_overrides=environment, data_dir=tmp_path)
    assert collected.returncode == 0, collected.stderr
    done = asgi_import(tmp_path, debug="0")
    assert done.returncode == 0, done.stderr


def test_a_development_web_process_starts_without_them(tmp_path):
    assert asgi_import(tmp_path, debug="1").returncode == 0


# What every page answers with (SecurityMiddleware, the CSP middleware, XFrameOptionsMiddleware); WhiteNoise
# answers static files before most middlewares run, so these only reach static files from the ones before it.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
STATIC_SAMPLES = ["vendor/plotly/plotly.min.js", "css/plotly.css", "admin/css/base.css", "favicon.svg"]


def static_answers(tmp_path, **env_overrides):
    """What the ASGI application answers for each of STATIC_SAMPLES, in a process with these settings (serving
    the files this test run collected)."""
    from django.conf import settings

    from tests.core.test_settings import run_python

    env_overrides["FEDCHAIN_STATIC_ROOT"] = str(settings.STATIC_ROOT)
    done = run_python("-m", "tests.core.static_headers", *STATIC_SAMPLES, env_overrides=env_overrides, data_dir=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_a_page_carries_the_security_headers_static_files_are_checked_against(client):
    response = client.get("/")
    assert {name: response.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS


@pytest.mark.parametrize("mode", ["embedded default", "production"])
def test_static_files_carry_the_pages_security_headers(tmp_path, mode):
    from tests.core.test_settings import PRODUCTION

    seen = static_answers(tmp_path, **({"DJANGO_DEBUG": "1"} if mode == "embedded default" else PRODUCTION))
    assert seen["debug"] is (mode == "embedded default")
    expected = dict(PAGE_HEADERS)
    if mode == "production":
        expected["strict-transport-security"] = "max-age=31536000; includeSubDomains; preload"
    for name, answer in seen["answers"].items():
        assert answer["status"] == 200, (name, answer)
        assert {header: answer["headers"].get(header) for header in expected} == expected, name
