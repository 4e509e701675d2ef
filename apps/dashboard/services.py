from django.db import transaction

from apps.events.models import Event
from apps.federated.lifecycle import experiment_start
from apps.federated.models import Experiment
from apps.federated.services import experiment_create

from .models import PRUNING_ROW, OutboxPruning


def outbox_prune(*, keep_mining_progress):
    """Deletes all but the newest keep_mining_progress mining_progress events. Returns how many went.

    Mining progress only matters while it is new, and miners report it several times a second; every
    other event type is history and stays. The pruning mark moves in the same transaction as the delete.
    """
    with transaction.atomic():
        newest_deleted = (
            Event.objects.filter(type=Event.Type.MINING_PROGRESS)
            .order_by("-id")
            .values_list("id", flat=True)[keep_mining_progress : keep_mining_progress + 1]
            .first()
        )
        if newest_deleted is None:
            return 0
        deleted, _ = Event.objects.filter(type=Event.Type.MINING_PROGRESS, id__lte=newest_deleted).delete()
        OutboxPruning.objects.bulk_create([OutboxPruning(pk=PRUNING_ROW)], ignore_conflicts=True)
        OutboxPruning.objects.filter(pk=PRUNING_ROW, pruned_through__lt=newest_deleted).update(
            pruned_through=newest_deleted
        )
    return deleted



# A demo a newcomer watches train and mine in well under a minute on a laptop.
DEMO_EXPERIMENT = {
    "name": "Demo: handwritten digits, 8 clients, FedAvg",
    "dataset": "digits",
    "clients": 8,
    "rounds": 25,
    "partition": "dirichlet",
    "alpha": 0.5,
    "model": "softmax",
    "aggregator": "fedavg",
    "local_epochs": 1,
    "batch_size": 16,
    "lr": 0.1,
    # About half a million hashes a block: a second or so of mining, long enough to watch the progress
    # bar on a busy laptop; the chain's retargeting raises it if blocks come faster than its spacing.
    "difficulty_bits": 19,
    "seed": 1,
}


def experiment_launch(*, name="", **settings):
    """Creates the experiment (validated; raises ValidationError) and starts it in the worker processes.
    Its first tasks are enqueued once this transaction commits."""
    with transaction.atomic():
        experiment = experiment_create(name=name, **settings)
        return experiment_start(experiment=experiment)


def demo_launch():
    """Launches the demo experiment; None when the database already has one (the demo is for a first run)."""
    with transaction.atomic():
        if Experiment.objects.exists():
            return None
        return experiment_launch(**DEMO_EXPERIMENT)
