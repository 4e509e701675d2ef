from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "apps.workers"
    label = "workers"
    verbose_name = "Background work"

    def ready(self):
        from . import signals  # noqa: F401 (connects the receivers)
