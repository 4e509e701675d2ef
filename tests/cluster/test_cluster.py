"""The deployment of the README, on one machine: PostgreSQL + Redis, two web processes on two ports, three worker
processes (the README's workers unit) and the chain watcher, started with the README's own unit commands and
environment file. An experiment's training spreads over all the workers; a browser page on each web process gets the same
events in the same order; a worker killed mid-round loses nothing; PostgreSQL stopped for 10 s mid-run: the
workers back off, reconnect and finish, and the chain verifies."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psycopg
import pytest

from tests.conftest import free_port
from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS

from .conftest import BASE_DIR, readme_environment, readme_units, unit_command, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WORKERS = 3
OUTAGE_SECONDS = 10
# Clients that train for a while (a job of two of them takes a few tenths of a second), so that a kill lands
# mid-training; five rounds, so that rounds are left to run after the outage (it starts once round 2 is in).
EXPERIMENT = ["--dataset", "synthetic", "--synthetic-samples", "24000", "--clients", "12", "--rounds", "5",
              "--model", "mlp", "--hidden", "64", "--local-epochs", "10", "--difficulty-bits", "12",
              "--no-baseline"]


def deployment_env(tmp_path, postgres, redis_queue):
    """The README's environment file with this test's own database, queue, addresses and secrets put in."""
    redis_url, queue_name = redis_queue
    database = queue_name
    postgres.create_database(database)
    documented = readme_environment()
    ours = {
        "DATABASE_URL": postgres.url(database),
        "REDIS_URL": redis_url,
        "FEDCHAIN_QUEUE_NAME": queue_name,
        "DJANGO_SECRET_KEY": "a-secret-for-this-test-only-" + queue_name,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "http://127.0.0.1",
        "FEDCHAIN_DATA_DIR": str(tmp_path / "data"),
        "FEDCHAIN_KEY_DIR": str(tmp_path / "keys"),
        "FEDCHAIN_WORKERS": str(WORKERS),
        "FEDCHAIN_CLUSTER_WORKERS": str(WORKERS),
    }
    assert set(ours) <= set(documented), f"the README's environment file lacks {set(ours) - set(documented)}"
    # Quicker recovery than production's defaults, so that the test stays short.
    tuning = {"FEDCHAIN_HEARTBEAT_SECONDS": "1", "FEDCHAIN_CLAIM_TIMEOUT": "5"}
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FEDCHAIN_", "DATABASE_", "REDIS_"))}
    return {**inherited, **documented, **ours, **tuning}


class Database:
    """Reads of the deployment's database from the test, each on a short connection of its own."""

    def __init__(self, url):
        self.url = url

    def rows(self, sql, *params):
        with psycopg.connect(self.url, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def value(self, sql, *params):
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None


class Watcher:
    """A browser page on one web process, with every websocket message it received, in order."""

    def __init__(self, browser, base):
        self.context = browser.new_context(extra_http_headers=PROXIED, bypass_csp=True)  # Playwright evaluates with eval
        self.page = self.context.new_page()
        self.messages = []
        self.problems = []  # what the page's console and network said went wrong, for a failure's message
        self.page.on("websocket", lambda socket: socket.on("framereceived", self._received))
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(f"console: {m.text}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.goto(f"{base}/")

    def _received(self, payload):
        self.messages.append(json.loads(payload))

    def live(self):
        """The page's stream is connected; returns the seq its embedded state was current to."""
        return self.page.evaluate(
            "() => window.fedchainLive && window.fedchainLive.socket && window.fedchainLive.socket.readyState === 1"
            " && JSON.parse(document.getElementById('live-state').textContent).seq + 1"
        )

    def events(self):
        return [(m["seq"], m["type"]) for m in self.messages if m["type"] != "snapshot" and "seq" in m]


def manage(env, *args, timeout=120):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=timeout)


# What the README's reverse proxy tells the web processes; without it they redirect to https (DJANGO_DEBUG=0).
PROXIED = {"X-Forwarded-Proto": "https"}


def serving(port):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz/", headers=PROXIED)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_the_readme_deployment_survives_a_killed_worker_and_a_database_outage(
    tmp_path, postgres, redis_queue, processes
):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium")
    from playwright.sync_api import sync_playwright

    began = time.monotonic()

    def phase(name):
        print(f"{time.monotonic() - began:6.1f} s  {name}", flush=True)

    env = deployment_env(tmp_path, postgres, redis_queue)
    db = Database(env["DATABASE_URL"])
    units = readme_units()
    assert set(units) == {"fedchain-migrate.service", "fedchain-static.service", "fedchain-web@.service",
                          "fedchain-workers.service", "fedchain-watch.service"}

    # The oneshot units, in the order the web unit's After= puts them.
    for oneshot in ("fedchain-migrate.service", "fedchain-static.service"):
        done = subprocess.run(unit_command(units[oneshot], env), cwd=BASE_DIR, env=env, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
    phase("migrated, static files collected")
    ports = [free_port()]
    ports.append(wait_until(lambda: (port := free_port()) != ports[0] and port, timeout=5, message="a second port"))
    for port in ports:
        processes.start(f"web-{port}", unit_command(units["fedchain-web@.service"], env, instance=port), env)
    processes.start("workers", unit_command(units["fedchain-workers.service"], env), env)
    processes.start("watch", unit_command(units["fedchain-watch.service"], env), env)
    try:
        wait_until(lambda: all(serving(port) for port in ports), timeout=60, message="both web processes")
    except AssertionError:
        raise AssertionError("\n".join(processes.log(f"web-{port}")[-3000:] for port in ports)) from None
    wait_until(lambda: len(processes.children("workers")) >= WORKERS + 1, timeout=60,
               message="the worker processes and the scheduler")
    phase("web, workers and watcher up")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        watchers = [Watcher(browser, f"http://127.0.0.1:{port}") for port in ports]
        pump = watchers[0].page.wait_for_timeout

        def pump_seconds(seconds):
            pump(seconds * 1000)

        try:
            wait_until(lambda: all(w.live() for w in watchers), timeout=30, pump=pump_seconds,
                       message="both pages live")
        except AssertionError as timed_out:
            said = [f"{w.page.url}: {w.problems}" for w in watchers]
            raise AssertionError("\n".join([str(timed_out), *said, *(processes.log(f"web-{p}")[-2000:] for p in ports)]))
        phase("pages live")
        # Started once both pages follow: on a quiet machine the whole experiment (about 8 s) was over before the
        # browser (about 10 s) had both pages live, and there was no training left to kill.
        starting = subprocess.Popen([sys.executable, "manage.py", "run_experiment", *EXPERIMENT, "--background"],
                                    cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        out, err = starting.communicate(timeout=120)
        assert starting.returncode == 0, err
        experiment = int(out.strip())
        phase(f"experiment {experiment} started")

        # A worker killed while it trains: its consumer starts another, which recovers the job.
        killed = None
        for _ in range(5):
            running = wait_until(
                lambda: db.rows("SELECT id, worker FROM workers_job WHERE status = 'running' AND key LIKE %s",
                                f"train/{experiment}/%"),
                timeout=60, interval=0.02, pump=pump_seconds, message="a client batch in training")
            job_id, worker = running[0]
            os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)
            if db.value("SELECT status FROM workers_job WHERE id = %s", job_id) == "running":
                killed = job_id
                break
        assert killed is not None, "every kill came after its job was done"
        phase(f"killed the worker training job {killed}")

        # PostgreSQL goes away for 10 s while the experiment runs.
        wait_until(lambda: db.value("SELECT count(*) FROM federated_round WHERE experiment_id = %s", experiment) >= 3,
                   timeout=90, pump=pump_seconds, message="round 2 recorded")
        postgres.stop("fast")
        phase("PostgreSQL stopped")
        pump_seconds(OUTAGE_SECONDS)
        postgres.start()
        phase("PostgreSQL started again")

        def ended():
            status = db.value("SELECT status FROM federated_experiment WHERE id = %s", experiment)
            return status if status not in ("queued", "running") else None

        status = wait_until(ended, timeout=150, interval=0.5, pump=pump_seconds, message="the experiment to end")
        phase(f"experiment {status}")
        last_seq = db.value("SELECT max(id) FROM events_event")
        try:
            wait_until(lambda: all(w.events() and w.events()[-1][0] >= last_seq for w in watchers), timeout=30,
                       pump=pump_seconds, message="both pages to receive the last event")
        except AssertionError as timed_out:
            newest = db.rows("SELECT id, type, experiment_id, created_at FROM events_event ORDER BY id DESC LIMIT 8")
            said = [f"{w.page.url}: last {w.events()[-5:]}, {len(w.messages)} messages, {w.problems}" for w in watchers]
            raise AssertionError("\n".join([str(timed_out), f"newest events {newest}", *said,
                                            *(processes.log(f"web-{p}")[-3000:] for p in ports)])) from None
        received = [w.events() for w in watchers]
        browser.close()

    assert status == "finished", db.value("SELECT error FROM federated_experiment WHERE id = %s", experiment)
    # Nothing lost, nothing twice: every round recorded once with every sampled client's update, on the chain
    # once, in round order; the chain verifies.
    rounds = db.rows("SELECT number, clients_sampled, (SELECT count(*) FROM federated_clientupdate u WHERE "
                     "u.round_id = r.id) FROM federated_round r WHERE experiment_id = %s ORDER BY number", experiment)
    assert [r[0] for r in rounds] == list(range(6))
    assert all(sampled == updates > 0 for _, sampled, updates in rounds[1:]), rounds
    blocks = db.rows("SELECT round_number FROM ledger_block WHERE experiment_id = %s AND status = 'main' "
                     "ORDER BY height", experiment)
    assert [b[0] for b in blocks] == list(range(6))
    verified = manage(env, "verify_chain", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["valid"], verified.stdout + verified.stderr
    # The killed worker's batch ran again, once more, elsewhere.
    status, attempts = db.rows("SELECT status, attempts FROM workers_job WHERE id = %s", killed)[0]
    assert status == "done" and attempts >= 2
    # Training spread over all three consumers' workers (the replacement of the killed one makes a fourth).
    trainers = {w for (w,) in db.rows("SELECT DISTINCT worker FROM workers_job WHERE key LIKE %s AND status = "
                                      "'done'", f"train/{experiment}/%")}
    assert len(trainers) >= WORKERS, trainers

    # Both pages got the same events in the same order, each once, from the later of their starting points on.
    start = max(min(seq for seq, _ in events) for events in received)
    tails = [[event for event in events if event[0] >= start] for events in received]
    assert tails[0] == tails[1]
    seqs = [seq for seq, _ in tails[0]]
    assert seqs == sorted(set(seqs))
    assert {"experiment", "round", "block"} <= {kind for _, kind in tails[0]}

    log = processes.log("workers")
    assert "Traceback" not in log, log[log.index("Traceback") - 1500:][:5000]

