import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture(scope="session", autouse=True)
def static_files_collected():
    """Pages name static files by their content-hashed names (WhiteNoise's manifest): collected once per run, into
    the run's own data directory, as `manage.py serve` collects them."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashing():
    """Test users' passwords hashed with a fast hasher, as Django advises for tests: PBKDF2's default iterations
    take half a second a hash on this machine, paid at every create_user and sign-in and at every request with
    Basic credentials. No test here is about the hash's strength; those about counting checks set their own."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(**extra):
    """Environment for a FedChain subprocess that shares this test run's database and queue."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        env["FEDCHAIN_SQLITE_NAME"] = Path(db["NAME"]).name
    env.update(extra)
    return env


def processes_with_env(name, value):
    """PIDs of live processes whose environment has name=value (to prove nothing was left behind)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found


class WorkerPool:
    """Huey worker processes started as `make run` starts them."""

    def __init__(self, workers=2, log=None):
        """log: a file path for the workers' output (logs), which is discarded otherwise."""
        from huey.contrib.djhuey import HUEY

        HUEY.flush()  # nothing enqueued by earlier tests may run against this test's rows
        output = open(log, "ab") if log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "run_huey", "--workers", str(workers), "--worker-type", "process"],
                cwd=BASE_DIR,
                env=process_env(),
                start_new_session=True,
                stdout=output,
                stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            )
        finally:
            if log:
                output.close()

    def worker_pids(self):
        """The consumer's child processes: its workers and its scheduler."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def stop(self, sig=signal.SIGKILL):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)


@pytest.fixture
def worker_pool(transactional_db):
    pools = []

    def start(workers=2, log=None):
        pool = WorkerPool(workers, log)
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.stop()


def wait_for(predicate, timeout=30.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


EXPERIMENT_PERMISSIONS = ("add_experiment", "change_experiment")


def grant_experiment_permissions(user, codenames=EXPERIMENT_PERMISSIONS):
    """Gives the user Django's permissions to create and to control experiments (what the dashboard and the API
    check); returns the user fresh from the database (permissions are cached on the object)."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="federated", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)
