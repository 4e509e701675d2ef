"""Loaded by pytest before Django (see pytest.ini): gives the test run a data directory of its own."""

import os
import tempfile

os.environ["FEDCHAIN_DATA_DIR"] = os.environ.get("FEDCHAIN_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="fedchain-test-")
# Keys of the test run's own, outside its data directory (as the default is), removed with the temporary files.
os.environ["FEDCHAIN_KEY_DIR"] = os.environ.get("FEDCHAIN_TEST_KEY_DIR") or tempfile.mkdtemp(prefix="fedchain-test-keys-")
# One collection of the static files (tests/conftest.py) for every process the run starts (serve, nodes).
os.environ["FEDCHAIN_STATIC_ROOT"] = tempfile.mkdtemp(prefix="fedchain-test-static-")
os.environ.setdefault("DJANGO_DEBUG", "1")
for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"):
    # The suite tests the embedded default; tests of the scaled-out setup set these themselves.
    os.environ.pop(name, None)
# Playwright's sync API runs an event loop in the test thread; Django would refuse ORM calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Flower reports usage and looks for updates over the internet unless told not to: tests stay on this machine.
os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
os.environ["FLWR_DISABLE_UPDATE_CHECK"] = "1"
