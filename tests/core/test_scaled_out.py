"""The same code on PostgreSQL + Redis, by configuration alone: tasks cross processes through Redis."""

import os
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest
import redis
from django.conf import settings


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)


def reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def scaled_out_env(tmp_path):
    if not (reachable(PG["host"], PG["port"]) and reachable(*REDIS)):
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL on 5432 and Redis on 6379 (.ci/run starts them)")
        pytest.skip("PostgreSQL and Redis are not running on localhost")
    name = f"fedchain_scaleout_{uuid.uuid4().hex[:8]}"
    psql = ["psql", "-h", PG["host"], "-U", PG["user"], "-d", "postgres", "-qc"]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("FEDCHAIN_SQLITE_NAME", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        FEDCHAIN_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}",
        REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/0",
        FEDCHAIN_QUEUE_NAME=name,
    )
    yield env
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    queue = redis.Redis(host=REDIS[0], port=REDIS[1])
    leftovers = list(queue.scan_iter(f"huey.*.{name}"))  # the queue's schedule and task records
    if leftovers:
        queue.delete(*leftovers)


def manage(env, *args, **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, **kwargs
    )


def django_script(env, script):
    """Runs `script` (Python that calls django.setup() itself) in its own process under `env`; its stdout, or
    the assertion fails with its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
        env={**env, "DJANGO_SETTINGS_MODULE": "fedchain_site.settings", "PYTHONPATH": str(settings.BASE_DIR)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_postgres_and_redis_carry_tasks_between_processes(scaled_out_env):
    env = scaled_out_env
    migrated = manage(env, "migrate", "-v0", timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey", "--workers", "1", "--worker-type", "process"],
        cwd=settings.BASE_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        enqueue = textwrap.dedent(
            """
            import os, time
            from django.conf import settings
            from django.db import connection
            from apps.core.tasks import worker_identity
            assert connection.vendor == "postgresql", connection.vendor
            assert settings.HUEY["huey_class"] == "huey.PriorityRedisHuey"
            result = worker_identity.enqueue()
            deadline = time.monotonic() + 60
            while not result.is_finished and time.monotonic() < deadline:
                time.sleep(0.2)
                result.refresh()
            assert result.status.name == "SUCCESSFUL", result.status
            assert result.return_value["pid"] != os.getpid()
            print("ran in", result.return_value["pid"])
            """
        )
        done = manage(env, "shell", "-c", enqueue, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ran in" in done.stdout

    finally:
        os.killpg(worker.pid, 9)
        worker.wait()


@pytest.mark.slow
def test_blobs_are_read_a_slice_at_a_time_on_postgres(scaled_out_env):
    migrated = manage(scaled_out_env, "migrate", "-v0", timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    script = textwrap.dedent(
        """
        from django.db import connection
        from apps.federated.models import Blob
        from apps.federated.storage import BLOB_CHUNK_BYTES, blob_open, blob_write
        assert connection.vendor == "postgresql", connection.vendor
        data = bytes(range(256)) * (BLOB_CHUNK_BYTES // 256 * 2 + 3)
        digest = blob_write(data)
        blob = blob_open(digest)
        chunks = list(blob.chunks())
        assert blob.size == len(data) and b"".join(chunks) == data, blob.size
        assert [len(chunk) for chunk in chunks] == [BLOB_CHUNK_BYTES] * 2 + [768]
        assert blob.read(BLOB_CHUNK_BYTES - 1, 2) == data[BLOB_CHUNK_BYTES - 1 : BLOB_CHUNK_BYTES + 1]
        Blob.objects.filter(sha256=digest).update(data=data[:-1] + b"x")
        assert blob_open(digest) is None
        print("sliced")
        """
    )
    done = manage(scaled_out_env, "shell", "-c", script, timeout=120)
    assert done.returncode == 0 and "sliced" in done.stdout, done.stdout + done.stderr
