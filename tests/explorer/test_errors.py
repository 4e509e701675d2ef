"""Bad input and unknown things: a JSON {error, detail} with a 4xx from the API, a friendly page from the site."""

import pytest

pytestmark = pytest.mark.django_db

DIGEST = "ab" * 32


def assert_json_error(response, status, error=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"]
    if error:
        assert body["error"] == error
    return body


@pytest.mark.parametrize(
    "url, error",
    [
        ("/api/blocks/tip/", "invalid_block"),
        ("/api/blocks/-1/", "invalid_block"),
        ("/api/blocks/" + "9" * 40 + "/", "invalid_height"),
        ("/api/blocks/?before=abc", "invalid_before"),
        ("/api/blocks/?before=-5", "invalid_before"),
        ("/api/blocks/?limit=0", "invalid_limit"),
        ("/api/blocks/?limit=101", "invalid_limit"),
        ("/api/blocks/?limit=1e3", "invalid_limit"),
        ("/api/tx/1234/", "invalid_txid"),
        ("/api/tx/" + "zz" * 32 + "/proof/", "invalid_txid"),
        ("/api/experiments/one/", "invalid_id"),
        ("/api/experiments/" + "9" * 30 + "/rounds/", "invalid_id"),
        ("/api/experiments/?before=x", "invalid_before"),
        ("/api/models/not-a-hash/", "invalid_sha256"),
    ],
)
def test_malformed_parameters_are_400_with_a_json_body(client, url, error):
    assert_json_error(client.get(url), 400, error)


@pytest.mark.parametrize(
    "url",
    [
        "/api/blocks/5/",
        f"/api/blocks/{DIGEST}/",
        f"/api/tx/{DIGEST}/",
        f"/api/tx/{DIGEST}/proof/",
        "/api/experiments/7/",
        "/api/experiments/7/rounds/",
        f"/api/models/{DIGEST}/",
        "/api/",
        "/api/no/such/thing/",
    ],
)
def test_unknown_things_are_404_with_a_json_body(client, url):
    assert_json_error(client.get(url), 404, "not_found")


def test_the_api_is_read_only(client):
    for method in (client.post, client.put, client.delete):
        response = method("/api/chain/")
        assert_json_error(response, 405, "method_not_allowed")
        assert response["Allow"] == "GET, HEAD"


def test_a_write_to_a_read_only_endpoint_is_a_json_405_not_the_html_csrf_page(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/chain/")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "url, status, words",
    [
        ("/blocks/tip/", 400, "height (a whole number) or its hash"),
        ("/blocks/?before=x", 400, "before must be a whole number"),
        ("/blocks/7/", 404, "no block at height 7"),
        (f"/blocks/{DIGEST}/", 404, "No block has the hash"),
        ("/tx/abc/", 400, "txid must be 64 hexadecimal characters"),
        (f"/tx/{DIGEST}/", 404, "No record has the txid"),
        ("/experiments/x/rounds/1/", 400, "experiment must be a whole number"),
        ("/experiments/4/rounds/1/", 404, "There is no experiment 4"),
    ],
)
def test_pages_answer_bad_input_with_a_friendly_page(client, url, status, words):
    response = client.get(url)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert words in page
    assert 'class="site-nav"' in page  # the site's own layout, not a bare error
    assert "Traceback" not in page


def test_pages_are_read_only(client):
    response = client.post("/blocks/")
    assert response.status_code == 405
    assert "read-only" in response.content.decode()
