from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from . import tasklog, wal

        tasklog.connect()
        wal.connect()

    def before_serve(self, stdout):
        """First run of `manage.py serve` in development: an admin account to sign in with, shown once."""
        if not settings.DEBUG:
            return  # production accounts are made deliberately, with `manage.py createsuperuser`
        from .services import LOCAL_ADMIN_USERNAME, local_admin_ensure

        password = local_admin_ensure()
        if password is not None:
            account = (
                f"Created a local admin account: user {LOCAL_ADMIN_USERNAME!r}, password {password!r}. "
                f"It is shown only at this first start; change it with `manage.py changepassword {LOCAL_ADMIN_USERNAME}`."
            )
            stdout.write(account)
            return account  # serve repeats it under the server's address, where it does not scroll away
