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
