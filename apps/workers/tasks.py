"""Recovery of work the queue lost: when each worker process starts, and every minute."""

from django.db import connections
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task

from .services import jobs_recover

# The consumer imports this module before it starts its worker processes: each of them sees the same time, so
# work they all find waiting at startup is enqueued again by one of them only.
CONSUMER_STARTED_AT = timezone.now()


@HUEY.on_startup()
def recover_at_startup():
    """Whatever was queued before this consumer started, and whatever a dead worker held, is enqueued again."""
    try:
        jobs_recover(requeue_before=CONSUMER_STARTED_AT)
    finally:
        connections.close_all()


@db_periodic_task(crontab(minute="*"))
def recover_periodically():
    return jobs_recover()
