"""Real FedChain nodes for tests: each its own data directory, key directory, SQLite database, Huey queue, web
server, workers, chain watcher and network loop (`manage.py serve`), on a free loopback port. Every wait is
bounded; every node is stopped (its whole process group) when the test ends."""

import ctypes
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.test import override_settings

from apps.core.keys import node_key
from apps.ledger.checkpoint import checkpoint_signature
from tests.conftest import free_port

# Fast enough for tests on two shared cores; the defaults are for real deployments.
NODE_ENV = {
    "DJANGO_DEBUG": "1",
    "FEDCHAIN_NETWORK_POLL_MS": "200",
    "FEDCHAIN_PEER_POLL_SECONDS": "1",
    "FEDCHAIN_HEARTBEAT_SECONDS": "1",
    "FEDCHAIN_CLAIM_TIMEOUT": "4",
    "FEDCHAIN_REQUEUE_AFTER": "5",
    "FEDCHAIN_WATCH_INTERVAL_MS": "2000",
    "FEDCHAIN_LOG_LEVEL": "WARNING",
}


class Node:
    def __init__(self, base: Path, name: str, *, workers=1, extra_env=None, template=None):
        """template: a database `migrate` made with NODE_ENV's chain parameters (`migrated_template`) that a new
        node starts from, or None to migrate its own."""
        self.name = name
        self.template = template
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = base / name
        self.key_dir = base / f"{name}-keys"
        self.workers = workers
        self.peers: list[str] = []
        self.extra_env = extra_env or {}
        self.process = None
        self.log = base / f"{name}.log"

    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "FEDCHAIN_SQLITE_NAME")}
        env.update(NODE_ENV)
        env.update(
            FEDCHAIN_DATA_DIR=str(self.data_dir),
            FEDCHAIN_KEY_DIR=str(self.key_dir),
            FEDCHAIN_NODE_URL=self.url,
            FEDCHAIN_PEERS=",".join(self.peers),
            FEDCHAIN_QUEUE_NAME=f"test-{self.name}-{self.port}",
        )
        env.update(self.extra_env)
        return env

    def manage(self, *args, check=True, timeout=300):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self.env(),
            capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name}: manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self):
        return self.launch().ready()

    def launch(self):
        """Starts the node without waiting for it (`ready` waits), so that nodes start side by side. A new node
        starts from a copy of the template (a restarted one keeps its database), or migrates without one."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.template is None:
            self.manage("migrate", "-v0", "--noinput")
        elif not (self.data_dir / "db.sqlite3").exists():
            self._database_from_template()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port), "--workers", str(self.workers)],
                cwd=settings.BASE_DIR, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_stop_with_parent,
            )
        return self

    def _database_from_template(self):
        """The database `migrate` would leave, without a process that migrates: a fresh install's rows are the
        same on every node (schema, triggers, the genesis block) but for the genesis checkpoint, which each node
        signs with its own key. So: a copy of the template, the checkpoint signed again with this node's key,
        created in its key directory as the node itself creates it. (The re-signing is logged in the chain's
        change log, before the node's watcher starts.)"""
        target = self.data_dir / "db.sqlite3"
        source, copy = sqlite3.connect(self.template), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
        with override_settings(FEDCHAIN_KEY_DIR=self.key_dir):
            key = node_key()
        ((hash_hex,),) = self.sql("SELECT hash FROM ledger_checkpoint WHERE height = 0")
        self.sql("UPDATE ledger_checkpoint SET signature = ? WHERE height = 0",
                 (checkpoint_signature(key, 0, hash_hex),))

    def ready(self):
        wait(lambda: self.hello() is not None, 90, f"{self.name} to answer")
        return self

    def stop(self, sig=signal.SIGINT, timeout=30):
        self.stop_request(sig)
        self.stop_wait(timeout)

    def stop_request(self, sig=signal.SIGINT):
        """Signals the node to stop without waiting (`stop_wait` waits), so that nodes stop side by side."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop_wait(self, timeout=30):
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def kill(self):
        """SIGKILL to serve and to every process it started (each child runs in its own session)."""
        if self.process is None:
            return
        for pid in _descendants(self.process.pid) + [self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)
        self.process = None

    def get(self, path, **kwargs):
        try:
            response = httpx.get(self.url + path, timeout=5, trust_env=False, **kwargs)
        except httpx.HTTPError:
            return None
        return response

    def hello(self):
        response = self.get("/p2p/v1/hello")
        return response.json() if response is not None and response.status_code == 200 else None

    def tip(self):
        hello = self.hello()
        return None if hello is None else hello["tip"]

    def export(self):
        return json.loads(self.manage("export_chain", "-").stdout)

    def audit_all(self, experiment_id):
        """audit_round's report of every round of the experiment on this node's main chain, in one process."""
        script = (
            "import json; from apps.federated.selectors import round_audit; from apps.ledger.models import Block; "
            f"rounds = Block.objects.filter(status='main', experiment_id={experiment_id}).values_list('round_number', flat=True); "
            f"print(json.dumps([round_audit(experiment_id={experiment_id}, number=n).problems for n in sorted(rounds)]))"
        )
        return json.loads(self.manage("shell", "-c", script).stdout.strip().splitlines()[-1])

    def sql(self, statement, params=()):
        db = sqlite3.connect(self.data_dir / "db.sqlite3", timeout=30)
        try:
            with db:  # one transaction, committed
                return db.execute(statement, params).fetchall()
        finally:
            db.close()


def _stop_with_parent():
    """In the child: SIGTERM when the test process dies, even killed (serve then stops everything it started)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _descendants(pid):
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def wait(predicate, timeout, message):
    """The predicate's first true value within `timeout` seconds. Prints how long it took (shown with a failure)."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # a node restarting, a database busy: look again
            value = None
        if value:
            print(f"waited {time.monotonic() - started:.1f} s for {message}")
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def migrated_template(base):
    """A node database made by `manage.py migrate`, once, for nodes to start from (Node's `template`)."""
    node = Node(base, "template")
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.manage("migrate", "-v0", "--noinput")
    return node.data_dir / "db.sqlite3"


def peered(base, count, *, links=None, **kwargs):
    """`count` nodes, each configured with every other as a peer, or with the peers `links` gives it
    ({index: [indices of its peers]}, from 0)."""
    nodes = [Node(base, f"node{index + 1}", **kwargs) for index in range(count)]
    for index, node in enumerate(nodes):
        if links is None:
            node.peers = [other.url for other in nodes if other is not node]
        else:
            node.peers = [nodes[other].url for other in links.get(index, [])]
    return nodes


def same_tip(nodes):
    tips = [node.tip() for node in nodes]
    return tips[0] if all(t is not None and t["hash"] == tips[0]["hash"] for t in tips) else None
