"""Django for a standalone bench: the embedded default (SQLite, no Redis) unless the bench passes DATABASE_URL and
REDIS_URL, a data directory of its own, the schema migrated. Import it and call `setup_django` before importing
anything from apps/."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def setup_django(bench: str, *, data_dir: str | None = None, environ: dict[str, str] | None = None) -> str:
    """Sets `environ` (what the bench measures under, e.g. DJANGO_DEBUG=0), FEDCHAIN_DATA_DIR to `data_dir` or
    a new temporary directory named after the bench, sets Django up on fedchain_site.settings and migrates.
    Returns the data directory; removing it is the bench's business."""
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    os.environ.update(environ or {})
    data_dir = data_dir or tempfile.mkdtemp(prefix=f"fedchain-bench-{bench}-")
    os.environ["FEDCHAIN_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedchain_site.settings")
    for name in ("DATABASE_URL", "REDIS_URL"):
        if name not in (environ or {}):  # the embedded default unless the bench asks for a server
            os.environ.pop(name, None)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return data_dir


def run_and_remove(main, *directories: str):
    """Exits with main()'s status, having removed the bench's own `directories` (data, keys) whatever happened."""
    try:
        status = main()
    finally:
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)
    sys.exit(status)
