from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)

    def before_serve(self, stdout):
        """First run of `manage.py serve` in development: an admin account to sign in with, shown once."""
        if not settings.DEBUG:
            return  # production accounts are made deliberately, with `manage.py createsuperuser`
        from .services import LOCAL_ADMIN_USERNAME, local_admin_ensure

        password = local_admin_ensure()
        if password is not None:
            stdout.write(
                f"Created a local admin account: user {LOCAL_ADMIN_USERNAME!r}, password {password!r}. "
                "It is shown only this once; sign in at /admin/ to change it."
            )
