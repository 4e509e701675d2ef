"""Recovery of work the queue lost: when each worker process starts, and every minute."""

import logging

from django.db import DatabaseError, connections
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task

from .services import jobs_recover

logger = logging.getLogger(__name__)

# The consumer imports this module before it starts its worker processes: each of them sees the same time, so
# work they all find waiting at startup is enqueued again by one of them only.
CONSUMER_STARTED_AT = timezone.now()


def queued_job_ids():
    """Ids of the jobs whose task waits in Huey's queue or schedule. Django's task API enqueues through Huey's
    shim task, whose arguments are (task path, [job id], {})."""
    ids = set()
    for task in [*HUEY.pending(), *HUEY.scheduled()]:
        args = task.args
        if len(args) == 3 and isinstance(args[1], list) and len(args[1]) == 1 and isinstance(args[1][0], int):
            ids.add(args[1][0])
    return ids


@HUEY.on_startup()
def recover_at_startup():
    """Whatever a dead worker held, and whatever was queued before this consumer started and is not in the queue
    now, is enqueued again."""
    try:
        jobs_recover(requeue_before=CONSUMER_STARTED_AT, in_queue=queued_job_ids())
    except DatabaseError as error:  # the database is away: the next periodic recovery does it
        logger.warning("recovery at startup skipped, the database does not answer: %s", str(error).strip())
    finally:
        connections.close_all()


@db_periodic_task(crontab(minute="*"))
def recover_periodically():
    try:
        return jobs_recover(in_queue=queued_job_ids())
    except DatabaseError as error:  # the database is away: the next minute's recovery does it
        logger.warning("recovery skipped, the database does not answer: %s", str(error).strip())
        return None
