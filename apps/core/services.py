import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

LOCAL_ADMIN_USERNAME = "admin"


def local_admin_ensure(*, username=LOCAL_ADMIN_USERNAME):
    """Creates a superuser with a random password when there is no user at all; returns the password, or
    None when an account exists already. Only for a development setup: the caller checks DEBUG."""
    User = get_user_model()
    with transaction.atomic():
        if User.objects.exists():
            return None
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
    return password
