"""Shared mining: this node's miners also put other nodes' pending rounds (and rounds a reorganisation took off
the main chain) on the chain.

Each such batch is mined by a job (apps.workers: a fenced claim with a heartbeat, recovered when its worker
dies) keyed by the batch and the main tip it was scheduled on, so a batch gets one job per tip: after a
reorganisation puts it back to pending on another tip, a new job mines it again. A batch whose own
experiment's mine job is running here is left to that job.
"""

from django.conf import settings

from apps.federated.lifecycle import MINE, PRIORITY, TASKS, job_batch_mine
from apps.ledger.reads import batch_next
from apps.ledger.store import main_tip
from apps.workers.models import Job
from apps.workers.services import UNFINISHED, job_create, job_run

SHARED_MINE_TASK = "apps.network.tasks.mine_shared"


def shared_mining_schedule() -> int:
    """Creates a mining job for the next minable batch that no job of this node is mining; returns how many."""
    if not settings.FEDCHAIN_SHARED_MINING:
        return 0
    batch = batch_next()
    if batch is None:
        return 0
    jobs = Job.objects.filter(
        experiment_id=batch.experiment_id,
        round_number=batch.round_number,
        task__in=[TASKS[MINE], SHARED_MINE_TASK],
        status__in=UNFINISHED,
    )
    if jobs.filter(status=Job.Status.RUNNING).exists() or jobs.filter(task=SHARED_MINE_TASK).exists():
        return 0
    tip = main_tip()
    job_create(
        key=f"shared-mine/{batch.experiment_id}/{batch.round_number}/{tip.hash[:16]}",
        task=SHARED_MINE_TASK,
        priority=PRIORITY[MINE],  # in turn with training, as this node's own mining
        experiment_id=batch.experiment_id,
        round_number=batch.round_number,
    )
    return 1


def shared_batch_mine_run(job_id):
    return job_run(job_id, job_batch_mine)
