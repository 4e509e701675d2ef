"""The embedded default's task queue (Huey on SQLite) commits without an fsync each time, as the database does."""

from huey.contrib.djhuey import HUEY

from apps.workers.queue import QueueHuey


def test_the_queue_file_is_in_wal_mode_and_syncs_at_checkpoints_only():
    assert isinstance(HUEY, QueueHuey)
    connection = HUEY.storage.conn
    assert connection.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert connection.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL (FULL is 2)
