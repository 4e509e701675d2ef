"""Which process this is, and whether a process named so is still alive: how job claims and records name
the worker that ran them."""

import os
import signal
import socket
from pathlib import Path


def process_name():
    """This process as "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(name):
    """False when `name` ("host:pid") is a process of this host that has ended. Processes of other hosts count as
    alive: their heartbeat tells."""
    host, _, pid = name.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    # A killed worker whose parent died too can linger as a zombie until something reaps it.
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


class StopRequest:
    """Whether SIGINT (Ctrl-C) or SIGTERM has arrived since it was made: a long-running command checks it between
    steps, finishes the one under way and stops. Call it to ask."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum, frame):
        self.requested = True

    def __call__(self):
        return self.requested
