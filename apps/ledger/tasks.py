"""The task path `apps.ledger.tasks.mine_round`, kept for tasks that an older version put in the queue (Huey's
queue stores a task by its import path). It is the lifecycle's own mine task, apps.federated.tasks.mine_round:
new work is enqueued under that path. The one import that goes up the layers; remove this module once no queue
can hold such a task."""

from apps.federated.tasks import mine_round  # noqa: F401
