"""SQLite's log is copied back by each process's checkpointing thread, not inside the commit that fills it."""

import sqlite3
import time
from contextlib import closing

import pytest
from django.db import connection

from apps.core import wal


def _database(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # only the thread copies
    db.execute("CREATE TABLE blob (data BLOB)")
    return db


def test_the_thread_copies_a_commit_into_the_database_file_without_being_asked(tmp_path):
    path = tmp_path / "chain.sqlite3"
    with closing(_database(path)) as db:
        db.execute("INSERT INTO blob VALUES (?)", [bytes(8 << 20)])
        assert path.stat().st_size < 1 << 20  # committed, but in the log only
        assert wal.checkpointer_start(path)
        deadline = time.monotonic() + 10
        while path.stat().st_size < 8 << 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= 8 << 20
        assert wal.checkpoint(path) == 0


def test_a_log_left_unchanged_is_not_checkpointed_again(tmp_path, monkeypatch):
    # The explorer's requests counted the thread's CPU: checkpointing an idle 40 MB log every tick made them
    # up to 1.7x slower at 10,000 blocks (bench/explorer.py --quick).
    calls = []
    checkpoint = wal.checkpoint
    monkeypatch.setattr(wal, "checkpoint", lambda path: calls.append(path) or checkpoint(path))
    path = tmp_path / "chain.sqlite3"
    with closing(_database(path)) as db:
        db.execute("INSERT INTO blob VALUES (?)", [bytes(1 << 20)])
        wal.checkpointer_start(path)
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3 * wal.CHECKPOINT_INTERVAL_S)
        settled = len(calls)
        time.sleep(10 * wal.CHECKPOINT_INTERVAL_S)
        assert settled >= 1 and len(calls) == settled
        db.execute("INSERT INTO blob VALUES (?)", [bytes(1 << 20)])
        deadline = time.monotonic() + 10
        while len(calls) == settled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(calls) > settled  # a new write is copied again


def test_a_process_starts_one_thread_per_database(tmp_path):
    path = tmp_path / "chain.sqlite3"
    _database(path).close()
    assert wal.checkpointer_start(path)
    assert not wal.checkpointer_start(path)


def test_checkpointing_a_database_that_is_not_there_makes_none(tmp_path):
    path = tmp_path / "deleted.sqlite3"
    assert wal.checkpoint(path) is None
    assert not path.exists()


@pytest.mark.django_db
def test_django_connections_copy_in_a_commit_only_as_a_backstop():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == wal.BACKSTOP_PAGES
    assert wal.checkpointer_start(connection.settings_dict["NAME"]) is False  # started when it connected
