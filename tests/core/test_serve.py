import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from django.conf import settings

from tests.conftest import free_port, processes_with_env, wait_for


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return None, b""


@pytest.mark.slow
def test_serve_answers_and_stops_every_process_on_sigint(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FEDCHAIN_SQLITE_NAME"}
    env["FEDCHAIN_DATA_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True)
    started = time.monotonic()
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "2"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    # Collects the output as it comes (list.extend appends each line as it is read).
    reader = threading.Thread(target=lines.extend, args=(serve.stdout,), daemon=True)
    reader.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(base + "/")[0] == 200, timeout=60, message="the dashboard to answer")
        assert time.monotonic() - started < 60
        assert get(base + "/admin/login/")[0] == 200
        status, body = get(base + "/static/vendor/plotly/plotly.min.js")
        assert status == 200 and b"plotly" in body[:2000].lower()
        # web server, chain watcher, worker consumer and its two worker processes
        wait_for(
            lambda: len(processes_with_env("FEDCHAIN_DATA_DIR", str(tmp_path))) >= 5,
            timeout=30,
            message="the web server, chain watcher, consumer and its workers",
        )
        # The rounds' jobs are sized for the two workers serve started (FEDCHAIN_CLUSTER_WORKERS, unset here):
        # every process serve started says so.
        wait_for(
            lambda: len(set(processes_with_env("FEDCHAIN_CLUSTER_WORKERS", "2"))
                        & set(processes_with_env("FEDCHAIN_DATA_DIR", str(tmp_path)))) >= 5,
            timeout=30,
            message="the rounds' jobs planned for the two workers",
        )
        # The address is printed once serve itself has seen the server answer (it looks every 0.2 s).
        wait_for(lambda: any(f"http://127.0.0.1:{port}/" in line for line in lines), message="the address")
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
        reader.join(timeout=10)
    output = "".join(lines)
    assert serve.returncode == 0, output
    assert f"Node key: {os.environ['FEDCHAIN_KEY_DIR']}/node.key" in output  # where the key lives, said at start
    # The first-run account is said before the servers start and again under the address, where noisy logs
    # do not scroll it away; how to change its password comes with it.
    printed = [line.strip() for line in lines]
    account = [line for line in printed if line.startswith("Created a local admin account")]
    address = next(i for i, line in enumerate(printed) if line.startswith("FedChain is running at"))
    assert len(account) == 2 and account[0] == account[1] and printed[address + 1] == account[0], output
    assert "manage.py changepassword admin" in account[0]
    # Quiet by default: no access log, no per-request or start-up chatter from the web server.
    assert not [line for line in printed if "INFO daphne" in line or '"GET /' in line], output
    wait_for(lambda: not processes_with_env("FEDCHAIN_DATA_DIR", str(tmp_path)), timeout=10, message="no process left")


def test_serve_refuses_to_listen_off_loopback_while_debug_is_on_and_says_why(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FEDCHAIN_SQLITE_NAME"}
    env.update(FEDCHAIN_DATA_DIR=str(tmp_path), DJANGO_DEBUG="1", HOST="0.0.0.0")
    env.pop("FEDCHAIN_ALLOW_DEBUG_OFF_LOOPBACK", None)
    done = subprocess.run([sys.executable, "manage.py", "serve", "--port", str(free_port())], cwd=settings.BASE_DIR,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Refusing to listen on 0.0.0.0: DJANGO_DEBUG is on" in done.stderr
    assert "--allow-debug-off-loopback" in done.stderr
    assert not processes_with_env("FEDCHAIN_DATA_DIR", str(tmp_path))  # nothing was started


def test_serve_sizes_the_rounds_jobs_for_its_workers_unless_the_deployment_says_otherwise():
    from apps.core.management.commands.serve import children_environment

    alone = children_environment({"FEDCHAIN_WORKERS": "4"}, workers=3, verbosity=1)
    assert alone["FEDCHAIN_CLUSTER_WORKERS"] == alone["FEDCHAIN_WORKERS"] == "3"
    assert children_environment({"FEDCHAIN_CLUSTER_WORKERS": " "}, workers=3, verbosity=1)[
        "FEDCHAIN_CLUSTER_WORKERS"] == "3"
    # One host of several: the count of all hosts' workers, as the environment file gives it, stands.
    shared = children_environment({"FEDCHAIN_CLUSTER_WORKERS": "8"}, workers=3, verbosity=2)
    assert shared["FEDCHAIN_CLUSTER_WORKERS"] == "8" and shared["FEDCHAIN_WORKERS"] == "3"
    assert shared["FEDCHAIN_LOG_VERBOSITY"] == "2"


def test_which_addresses_debug_may_listen_on():
    from apps.core.management.commands.serve import debug_listen_refusal

    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert debug_listen_refusal(host, debug=True, allowed=False) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1"):
        assert "Refusing to listen" in debug_listen_refusal(host, debug=True, allowed=False), host
        assert debug_listen_refusal(host, debug=True, allowed=True) is None
        assert debug_listen_refusal(host, debug=False, allowed=False) is None
