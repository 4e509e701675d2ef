"""A real Flower federation on loopback: a SuperLink and SuperNodes run by Flower's own deployment engine in
insecure mode on 127.0.0.1, each a process group of its own, all stopped at the end; every wait is bounded.

Flower's telemetry, its update check and its runtime installation of app dependencies are switched off: nothing
leaves the machine.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from tests.conftest import free_port, process_env

BIN = Path(sys.executable).parent
EXAMPLE = Path(settings.BASE_DIR) / "examples" / "flower_digits"


def flower_env(home, **extra):
    env = process_env(
        FLWR_HOME=str(home),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        PYTHONPATH=str(settings.BASE_DIR),  # the ServerApp imports fedchain_flower from this checkout
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # Flower starts its other processes by name
        **extra,
    )
    return env


class Federation:
    """A SuperLink and `nodes` SuperNodes, the nodes holding shards 0..nodes-1 of the example's data."""

    def __init__(self, home, nodes=3):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = flower_env(self.home)
        self.logs = self.home / "logs"
        self.logs.mkdir(exist_ok=True)
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )
        self.processes = []
        self._start("superlink", [
            "flower-superlink", "--insecure", "--host", "127.0.0.1", "--port", str(self.port),
            "--disable-runtime-dependency-installation",
        ])
        for node in range(nodes):
            self._start(f"supernode{node}", [
                "flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{self.port}",
                "--host", "127.0.0.1", "--port", str(free_port()), "--max-wait-time", "120",
                "--node-config", f"partition-id={node} num-partitions={nodes}",
            ])

    def _start(self, name, command):
        log = open(self.logs / f"{name}.log", "ab")
        try:
            process = subprocess.Popen(
                [str(BIN / command[0]), *command[1:]], env=self.env, cwd=self.home, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            log.close()
        self.processes.append(process)

    def submit(self, run_config):
        """Starts a run of the example app with these run-config overrides; returns its run id."""
        overrides = " ".join(f"{key}={json.dumps(value)}" for key, value in run_config.items())
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run(
                [str(BIN / "flwr"), "run", str(EXAMPLE), "local", "--run-config", overrides, "--format", "json"],
                env=self.env, cwd=self.home, capture_output=True, text=True, timeout=60,
            )
            try:
                answer = json.loads(done.stdout[done.stdout.index("{"):])
            except ValueError:
                answer = {}
            if answer.get("success"):
                return answer["run-id"]
            if time.monotonic() > deadline:  # the SuperLink may still be starting
                raise AssertionError(f"flwr run failed: {done.stdout}\n{done.stderr}\n{self.log_tail()}")
            time.sleep(1)

    def run_status(self, run_id):
        done = subprocess.run(
            [str(BIN / "flwr"), "list", "local", "--run-id", str(run_id), "--format", "json"],
            env=self.env, cwd=self.home, capture_output=True, text=True, timeout=60,
        )
        try:
            answer = json.loads(done.stdout[done.stdout.index("{"):])
        except ValueError:
            return ""
        runs = answer.get("runs") or []
        return runs[0].get("status", "") if runs else ""

    def wait(self, run_ids, timeout):
        """{run id: final status} once every run has finished, or AssertionError at the timeout."""
        deadline = time.monotonic() + timeout
        finished = {}
        while len(finished) < len(run_ids):
            for run_id in run_ids:
                if run_id not in finished:
                    status = self.run_status(run_id)
                    if status.startswith("finished"):
                        finished[run_id] = status
            if time.monotonic() > deadline:
                raise AssertionError(f"runs {run_ids} not finished after {timeout}s: {finished}\n{self.log_tail()}")
            time.sleep(2)
        return finished

    def log_tail(self, lines=30):
        tails = []
        for log in sorted(self.logs.glob("*.log")):
            tails.append(f"== {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(tails)

    def stop(self):
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        for process in self.processes:  # whatever they started in their groups (ServerApps, ClientApps)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
