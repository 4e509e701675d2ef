"""plotly.js from the installed plotly package (the same version as the Python side; no CDN), as the static file
vendor/plotly/plotly.min.js. Only that file: the package's other data (a 4.8 MB widget bundle, data sets) is not
ours to serve."""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor/plotly"
BUNDLE = "plotly.min.js"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
        self.storage.prefix = PREFIX

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path != f"{PREFIX}/{BUNDLE}":
            return []  # as Django's own finders answer a miss
        found = self.storage.path(BUNDLE)
        return [found] if find_all else found

    def list(self, ignore_patterns):
        yield BUNDLE, self.storage


def require_collected_static_files():
    """With DEBUG off, pages name static files by the hashed names of the collected manifest: a web process
    started without it would answer every page with a server error. Refuse to start instead, saying what to run."""
    from django.conf import settings
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.exceptions import ImproperlyConfigured

    manifest = getattr(staticfiles_storage, "manifest_name", None)
    if settings.DEBUG or manifest is None or staticfiles_storage.manifest_storage.exists(manifest):
        return
    raise ImproperlyConfigured(
        f"Static files are not collected into {settings.STATIC_ROOT} (no {manifest}): with DJANGO_DEBUG=0 run "
        "`python manage.py collectstatic --noinput` on this host (once per release) before starting a web process."
    )
