"""Static files come from the app itself through WhiteNoise: compressed, under content-hashed names, cached."""

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
