from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .services import outbox_prune


@db_periodic_task(crontab(minute="*"))
def outbox_prune_mining_progress():
    """Keeps the outbox small while miners report progress, whether or not anybody is watching."""
    return outbox_prune(keep_mining_progress=settings.FEDCHAIN_MINING_PROGRESS_KEEP)
