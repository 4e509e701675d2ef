"""SQLite's write-ahead log copied back into the database file off the committing thread.

By default the connection whose commit takes the log past 1,000 pages (4 MB) copies it back, inside that
commit. A round writes about 2 MB of model blobs, so every other round paid that copy in its commit (commit
times: median 2.3 ms, mean 7.2 ms at 100 clients, bench/rounds.py), and a round's recording time flipped
between two values from one run to the next. Here a daemon thread of each process that opens the database
runs a passive checkpoint ten times a second while the log changes, which never blocks a reader or a writer
(sqlite3 releases the GIL while it copies), and the process's connections checkpoint in a commit only past
10,000 pages, for when the thread falls behind. Durability is unchanged: the log is the database until it
is copied, and a copy cut short is done again by the next one.
"""

import logging
import os
import sqlite3
import threading
import time
from contextlib import closing

from django.db.backends.signals import connection_created

logger = logging.getLogger("fedchain.wal")

CHECKPOINT_INTERVAL_S = 0.1
BACKSTOP_PAGES = 10_000

_started = set()  # (pid, database path): a forked child starts its own thread
_started_lock = threading.Lock()


def checkpoint(path):
    """One passive checkpoint of the database at `path`: the number of log frames it leaves uncopied, or None
    when there is no such database. A fresh connection each time, opened read-write without create, so a
    database deleted and made again (as the test runner does) is the one checkpointed, and none is made."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0, isolation_level=None)) as db:
            _busy, log_frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return None  # absent, or locked by a schema change: the next tick tries again
    return max(log_frames - copied, 0)


def _log_state(path):
    try:
        stat = os.stat(f"{path}-wal")
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _checkpoint_forever(path):
    checked = None  # the log as it was at the last checkpoint
    while True:
        time.sleep(CHECKPOINT_INTERVAL_S)
        state = _log_state(path)
        if state is None or state == checked:
            # Nothing written since: a process that only reads costs a stat() a tick. Frames a reader kept
            # from being copied wait for the next write (or the backstop), not for a retry every tick.
            continue
        checked = state
        try:
            checkpoint(path)
        except Exception:  # never let the thread die silently: the backstop would then do all the copying
            logger.exception("WAL checkpoint of %s failed", path)


def checkpointer_start(path):
    """Starts this process's checkpointing thread for the database at `path`, once per process."""
    key = (os.getpid(), os.fspath(path))
    with _started_lock:
        if key in _started:
            return False
        _started.add(key)
    threading.Thread(target=_checkpoint_forever, args=(key[1],), name="sqlite-wal-checkpoint", daemon=True).start()
    return True


def _on_connection_created(sender, connection, **kwargs):
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    checkpointer_start(connection.settings_dict["NAME"])


def connect():
    connection_created.connect(_on_connection_created, dispatch_uid="fedchain.wal.checkpointer")
