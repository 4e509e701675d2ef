"""A PostgreSQL of the test's own (so it can be stopped mid-run without touching anybody else's database), the
shared Redis under a queue name of the test's own, and the README's deployment: its environment file and the
commands of its systemd units."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.conftest import free_port
from tests.core.test_scaled_out import REDIS, reachable

BASE_DIR = Path(settings.BASE_DIR)
README = BASE_DIR / "README.md"
SERVICE_USER = "postgres"  # initdb refuses to run as root


def postgres_bin():
    """The newest of Debian's PostgreSQL server binaries, or None."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


class Postgres:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free loopback port."""

    def __init__(self, directory, bin_dir):
        self.bin_dir = bin_dir
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self.as_user = ["runuser", "-u", SERVICE_USER, "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(directory, SERVICE_USER)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool, *args, timeout=60):
        done = subprocess.run([*self.as_user, str(self.bin_dir / tool), *args], capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}{done.stderr}"

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode="fast"):
        """Stops the server; `fast` disconnects every client at once, as a database restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def url(self, database):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-qc",
                        f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)


@pytest.fixture
def postgres():
    bin_dir = postgres_bin()
    if bin_dir is None or shutil.which("psql") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL's server binaries (apt-get install postgresql)")
        pytest.skip("PostgreSQL's server binaries are not installed")
    # Not under pytest's tmp_path: the server's user must reach it, and pytest's directories are root's only.
    directory = Path(tempfile.mkdtemp(prefix="fedchain-test-postgres-"))
    try:
        server = Postgres(directory, bin_dir)
        try:
            yield server
        finally:
            try:
                server.stop("immediate")
            except AssertionError:
                pass  # already stopped
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_queue():
    """A queue name of this test's own on the shared Redis; its keys are deleted at the end."""
    if not reachable(*REDIS):
        if os.environ.get("CI"):
            pytest.fail("CI must provide Redis on 6379 (.ci/run starts it)")
        pytest.skip("Redis is not running on localhost")
    name = f"fedchain_cluster_{uuid.uuid4().hex[:8]}"
    yield f"redis://{REDIS[0]}:{REDIS[1]}/0", name
    client = redis.Redis(host=REDIS[0], port=REDIS[1])
    leftovers = [*client.scan_iter(f"huey.*.{name}"), *client.scan_iter(f"{name}*")]
    if leftovers:
        client.delete(*leftovers)


def readme_section(title):
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def readme_environment():
    """The variables of the README's environment file, /etc/fedchain/env."""
    block = re.search(r"```sh\n# /etc/fedchain/env\n(.*?)```", readme_section("Deployment"), re.S)
    assert block, "the README's deployment section has no /etc/fedchain/env block"
    return dict(line.split("=", 1) for line in block.group(1).splitlines() if line and not line.startswith("#"))


def readme_units():
    """{unit name: its ExecStart command line} of the README's example systemd units."""
    units = {}
    for name, body in re.findall(r"```ini\n# /etc/systemd/system/(\S+)[^\n]*\n(.*?)```", readme_section("Deployment"),
                                 re.S):
        exec_start = re.search(r"^ExecStart=(.*)$", body, re.M)
        assert exec_start, f"{name} has no ExecStart"
        assert "WorkingDirectory=/srv/fedchain" in body and "EnvironmentFile=/etc/fedchain/env" in body, name
        units[name] = exec_start.group(1)
    return units


def unit_command(command_line, env, instance=None):
    """A unit's ExecStart as an argv for this checkout: the venv's python, systemd's %i and ${VAR} expanded."""
    assert command_line.startswith("/srv/fedchain/.venv/bin/python "), command_line
    command_line = command_line.replace("%i", str(instance)) if instance is not None else command_line
    command_line = re.sub(r"\$\{(\w+)\}", lambda match: env[match.group(1)], command_line)
    return [sys.executable, *shlex.split(command_line)[1:]]


class Processes:
    """The deployment's long-running processes, each in a process group of its own, with its log."""

    def __init__(self, directory):
        self.directory = directory
        self.running = {}

    def start(self, name, argv, env):
        log = open(self.directory / f"{name}.log", "ab")
        try:
            self.running[name] = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                  start_new_session=True)
        finally:
            log.close()
        return self.running[name]

    def log(self, name):
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def children(self, name):
        pid = self.running[name].pid
        try:
            return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def stop_all(self):
        for process in self.running.values():
            try:
                os.killpg(process.pid, 9)
            except ProcessLookupError:
                pass
        for process in self.running.values():
            process.wait(timeout=20)


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def wait_until(predicate, *, timeout, message, interval=0.1, pump=time.sleep):
    """predicate()'s first true value within timeout seconds; `pump` waits between tries (a browser page's
    wait_for_timeout lets its events arrive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        pump(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
