"""Who may use a page: Django's model permissions (federated.add_experiment, ...), never is_staff alone."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def permission_required_page(permission):
    """A page for users with Django's `permission`: anonymous visitors are sent to log in, a user without it
    gets the 403 page (not a login form they have already passed)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(permission):
                raise PermissionDenied(f"This needs the permission {permission!r}, which your account does not have.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
