import io
import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

from apps.core.management.commands.serve import Command as Serve

pytestmark = pytest.mark.django_db


def before_serve():
    out = io.StringIO()
    for hook in Serve().before_start_hooks():
        hook(out)
    return out.getvalue()


def test_the_first_start_in_development_creates_an_admin_and_shows_its_password_once(settings):
    settings.DEBUG = True
    output = before_serve()
    password = re.search(r"password '([^']+)'", output).group(1)
    admin = get_user_model().objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.is_staff
    assert admin.check_password(password) and len(password) >= 16
    assert before_serve() == ""
    assert get_user_model().objects.count() == 1


def test_no_account_is_made_in_production(settings):
    settings.DEBUG = False
    assert before_serve() == ""
    assert not get_user_model().objects.exists()


def test_an_existing_account_is_left_alone(settings):
    settings.DEBUG = True
    get_user_model().objects.create_user("someone", password="their own")
    assert before_serve() == ""
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["someone"]


def test_the_hook_is_the_core_apps():
    assert apps.get_app_config("core").before_serve.__func__ in [hook.__func__ for hook in Serve().before_start_hooks()]
