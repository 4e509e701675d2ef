"""Runs the web server, the task workers, the chain watcher and the network loop together in the foreground.
With --network N, runs N such nodes on consecutive ports, each with its own data and key directory, peered
with each other: a network on one machine.

Ctrl-C (SIGINT) or SIGTERM stops every process it started, workers' children included.
"""

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core.keys import NODE_KEY_FILE, key_dir, node_id
from apps.core.process import StopRequest

GRACE_SECONDS = 10


def off_loopback(host):
    """True unless every address `host` names is a loopback address (127.0.0.0/8, ::1, localhost)."""
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return True
    return not addresses or any(not ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


def debug_listen_refusal(host, *, debug, allowed):
    """Why the server must not listen on `host`, or None. With DEBUG on, Django shows tracebacks and settings on
    its error pages and cookies and Basic credentials travel without TLS: that is for this machine only."""
    if not debug or allowed or not off_loopback(host):
        return None
    return (
        f"Refusing to listen on {host}: DJANGO_DEBUG is on, which shows tracebacks and settings to anyone who "
        "reaches an error page and sends cookies and passwords without TLS, and Host checks do not stop a remote "
        "client that sends 'Host: 127.0.0.1'. Listen on 127.0.0.1 (the default), or run in production mode "
        "(DJANGO_DEBUG=0 with DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS set), or, if you really mean to expose "
        "a development server, pass --allow-debug-off-loopback (or set FEDCHAIN_ALLOW_DEBUG_OFF_LOOPBACK=1)."
    )


def children_environment(environ, *, workers, verbosity):
    """The environment of the processes serve starts. A round's clients are trained in jobs sized for
    FEDCHAIN_CLUSTER_WORKERS worker processes: the --workers started here, unless the environment names the
    deployment's own count (worker processes on other hosts against the same database)."""
    env = {**environ, "FEDCHAIN_LOG_VERBOSITY": str(verbosity), "FEDCHAIN_WORKERS": str(workers)}
    if not env.get("FEDCHAIN_CLUSTER_WORKERS", "").strip():
        env["FEDCHAIN_CLUSTER_WORKERS"] = str(workers)
    return env


class Command(BaseCommand):
    help = "Run the web server (Daphne), the task workers (Huey) and the chain watcher until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=settings.FEDCHAIN_WORKERS)
        parser.add_argument(
            "--allow-debug-off-loopback",
            action="store_true",
            default=os.environ.get("FEDCHAIN_ALLOW_DEBUG_OFF_LOOPBACK", "") in ("1", "true", "yes", "on"),
            help="listen on a non-loopback address even though DEBUG is on (unsafe: see the refusal's message)",
        )
        parser.add_argument(
            "--network", type=int, default=0, metavar="N",
            help="run N peered nodes on ports PORT..PORT+N-1, data in DATA_DIR/node-1..N (keys beside it)",
        )

    def handle(self, *args, host, port, workers, allow_debug_off_loopback, network, verbosity=1, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        refusal = debug_listen_refusal(host, debug=settings.DEBUG, allowed=allow_debug_off_loopback)
        if refusal:
            raise CommandError(refusal)
        if network:
            return self.serve_network(network, host, port, workers)
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            # Daphne's -v 1 writes an access-log line per request: only at serve -v 2 and more.
            "web": [
                sys.executable, "-m", "daphne", "-v", "1" if verbosity >= 2 else "0", "-b", host, "-p", str(port),
                "fedchain_site.asgi:application",
            ],
            "workers": [*manage, "run_huey", "--workers", str(workers), "--worker-type", "process"],
            # Re-checks the chain continuously so a tampered row turns the dashboard red within a second.
            "chain watcher": [*manage, "watch_chain"],
            # Syncs from peers, announces to them, schedules the mining of their rounds (apps.network).
            "network": [*manage, "run_network"],
        }
        # Static files as WhiteNoise serves them (compressed, under content-hashed names), when not collected yet
        # (`make run` collects them afresh each time).
        if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
            call_command("collectstatic", interactive=False, verbosity=0)
        # A hook may return a line worth repeating under the address (the first-run account's password).
        repeated = [note for note in (hook(self.stdout) for hook in self.before_start_hooks()) if note]
        # The children log as -v says, and plan the rounds' jobs for the workers started here.
        env = children_environment(os.environ, workers=workers, verbosity=verbosity)
        self.stdout.write(
            f"Node key: {key_dir() / NODE_KEY_FILE} (node id {node_id()}); it signs the chain's checkpoints. "
            "Keep it outside the data directory and back it up: see the README's 'Keys and checkpoints'."
        )

        def announce():
            self.stdout.write(f"FedChain is running at http://{host}:{port}/  ({workers} worker processes)")
            for note in repeated:
                self.stdout.write(note)
            self.stdout.write("Press Ctrl-C to stop. (-v 2 logs every request and each task's start and end.)")

        self.supervise(
            {name: (command, env, {}) for name, command in commands.items()},
            listening={(host, port): "web"},
            announce=announce,
            exited="{} exited unexpectedly; stopping FedChain.",
            stopped="FedChain stopped.",
            failure="A FedChain process exited unexpectedly.",
        )

    def serve_network(self, count, host, port, workers):
        if not 1 <= count <= 16:
            raise CommandError("--network takes 1 to 16 nodes.")
        if os.environ.get("DATABASE_URL"):
            raise CommandError("--network gives each node its own SQLite database: unset DATABASE_URL.")
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        urls = [f"http://{host}:{port + index}" for index in range(count)]
        nodes = {}
        for index, url in enumerate(urls):
            data_dir = settings.DATA_DIR / f"node-{index + 1}"
            env = {
                **os.environ,
                "FEDCHAIN_DATA_DIR": str(data_dir),
                "FEDCHAIN_KEY_DIR": str(settings.DATA_DIR / f"node-{index + 1}-keys"),
                "FEDCHAIN_NODE_URL": url,
                "FEDCHAIN_PEERS": ",".join(other for other in urls if other != url),
                "FEDCHAIN_QUEUE_NAME": f"fedchain-node-{index + 1}",
            }
            env.pop("FEDCHAIN_SQLITE_NAME", None)
            subprocess.run([*manage, "migrate", "-v0", "--noinput"], cwd=settings.BASE_DIR, env=env, check=True)
            nodes[url] = (env, [*manage, "serve", "--host", host, "--port", str(port + index), "--workers", str(workers)])

        def announce():
            self.stdout.write(f"FedChain network of {count} nodes:")
            for index, url in enumerate(urls):
                self.stdout.write(f"  node {index + 1}: {url}/  (data {settings.DATA_DIR / f'node-{index + 1}'})")
            self.stdout.write("Press Ctrl-C to stop.")

        self.supervise(
            {url: (command, env, {"stdout": subprocess.DEVNULL}) for url, (env, command) in nodes.items()},
            listening={(host, port + index): url for index, url in enumerate(urls)},
            announce=announce,
            exited="node {} stopped unexpectedly; stopping the network.",
            stopped="FedChain network stopped.",
            failure="A FedChain node exited unexpectedly.",
        )

    def supervise(self, processes, *, listening, announce, exited, stopped, failure):
        """Runs `processes` ({name: (command, env, Popen options)}), each in its own session, until Ctrl-C
        (SIGINT) or SIGTERM, or until one exits; then stops them all. `announce` runs once every address in
        `listening` ({(host, port): name of the process that serves it}) answers."""
        children = {}
        stopping = StopRequest()
        try:
            for name, (command, env, options) in processes.items():
                # Own session: we decide when the children and their children stop.
                children[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True,
                                                  **options)
            for (host, port), name in listening.items():
                self.wait_until_listening(host, port, children[name], stopping)
            if not stopping() and all(child.poll() is None for child in children.values()):
                announce()
                self.stdout.flush()  # at once, also when the output goes to a pipe or a file
            while not stopping():
                gone = [name for name, child in children.items() if child.poll() is not None]
                if gone:
                    self.stderr.write(exited.format(", ".join(gone)))
                    break
                time.sleep(0.2)
        finally:
            self.stop_all(children)
        self.stdout.write(stopped)
        if not stopping():
            raise CommandError(failure)

    @staticmethod
    def wait_until_listening(host, port, server, stopping, timeout=120):
        """The URL is printed only once it answers, so it never leads to a refused connection; a `server`
        process that exits ends the wait."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stopping() and server.poll() is None:
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)

    def before_start_hooks(self):
        """Steps other apps run once before the servers start (e.g. first-run setup)."""
        from django.apps import apps

        hooks = []
        for config in apps.get_app_configs():
            hook = getattr(config, "before_serve", None)
            if hook:
                hooks.append(hook)
        return hooks

    def stop_all(self, children):
        for child in children.values():
            self.signal_group(child, signal.SIGINT)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.signal_group(child, signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=3)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            # Whatever the child left in its process group (worker processes) goes too.
            self.signal_group(child, signal.SIGKILL)

    @staticmethod
    def signal_group(child, signum):
        try:
            os.killpg(child.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
