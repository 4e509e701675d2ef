from django.db import transaction

from apps.events.models import Event

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

