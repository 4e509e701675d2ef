"""Login throttling: after AXES_FAILURE_LIMIT failures from one address, logins and HTTP Basic authentication
from it are refused (429) without checking any password, until the cool-off; other addresses are not affected."""

import base64
import json

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from tests.conftest import grant_experiment_permissions

pytestmark = pytest.mark.django_db

PASSWORD = "the right password"


@pytest.fixture
def checks(settings, monkeypatch, django_user_model):
    """Counts password checks (a fast hasher stands in for PBKDF2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3
    grant_experiment_permissions(django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True))
    counted = []
    verify = MD5PasswordHasher.verify
    monkeypatch.setattr(MD5PasswordHasher, "verify", lambda self, *args: counted.append(1) or verify(self, *args))
    return counted


def basic(password, address="127.0.0.1"):
    token = base64.b64encode(f"operator:{password}".encode()).decode()
    return Client(REMOTE_ADDR=address).post("/api/experiments/", "{}", content_type="application/json",
                                            HTTP_AUTHORIZATION=f"Basic {token}")


def test_basic_authentication_is_refused_after_the_failure_limit_without_checking_passwords(checks):
    assert [basic("wrong").status_code for _ in range(3)] == [401, 401, 429]  # the third failure locks out
    assert len(checks) == 3
    for password in ("wrong", PASSWORD):
        response = basic(password)
        assert response.status_code == 429 and response["Content-Type"] == "application/json"
        assert json.loads(response.content)["error"] == "too_many_attempts"
        assert int(response["Retry-After"]) == 15 * 60
    assert len(checks) == 3  # refused before any password is hashed
    assert basic(PASSWORD, address="127.0.0.2").status_code == 201  # another address is let in


def test_the_admin_login_is_refused_with_a_page_after_the_failure_limit(checks):
    client = Client()
    for _ in range(2):
        assert client.post("/admin/login/", {"username": "operator", "password": "wrong"}).status_code == 200
    assert client.post("/admin/login/", {"username": "operator", "password": "wrong"}).status_code == 429
    response = client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins from this address" in response.content.decode()
    assert "_auth_user_id" not in client.session
