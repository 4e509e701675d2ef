"""The embedded default's task queue: Huey on SQLite, in WAL mode with synchronous=NORMAL, as the database is.

Huey's SQLite storage leaves SQLite's default (FULL: an fsync at every commit), and every task costs several
commits (enqueued, taken, its record written twice and deleted). In WAL mode NORMAL syncs at checkpoints instead
and never corrupts the file; a power cut may lose the last tasks enqueued, which the jobs' rows remember:
recovery (apps.workers.tasks) enqueues that work again.
"""

from huey import SqliteHuey
from huey.storage import SqliteStorage


class QueueStorage(SqliteStorage):
    def _create_connection(self):
        connection = super()._create_connection()
        connection.execute("pragma synchronous=NORMAL")
        return connection


class QueueHuey(SqliteHuey):
    storage_class = QueueStorage
