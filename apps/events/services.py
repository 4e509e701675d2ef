from django.db import connection, transaction

from .models import PRUNING_ROW, Event, OutboxPruning

# PostgreSQL hands out sequence numbers at INSERT but makes rows visible at COMMIT, so two concurrent
# writers could become visible out of order and a reader resuming "after seq N" would skip one.
# Holding this transaction-scoped lock from insert to commit makes commit order equal sequence order.
# SQLite already serializes writers.
_OUTBOX_LOCK_ID = 0x46656443  # "FedC"


def event_emit(*, type, payload, experiment_id=None):
    """Adds an event to the outbox. Call it inside the transaction that writes what it describes."""
    with transaction.atomic(savepoint=False):  # a transaction for the lock; an error undoes the caller's too
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_OUTBOX_LOCK_ID])
        return Event.objects.create(type=type, payload=payload, experiment_id=experiment_id)


def events_after(seq, *, experiment_id=None, limit=500):
    """Events with a sequence number above seq, oldest first (optionally those of one experiment)."""
    events = Event.objects.filter(id__gt=seq)
    if experiment_id is not None:
        events = events.filter(experiment_id=experiment_id)
    return list(events.order_by("id")[:limit])


def last_event_seq():
    last = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def outbox_pruned_through():
    """The highest seq that may have been deleted from the outbox (0 if nothing ever was)."""
    return OutboxPruning.objects.filter(pk=PRUNING_ROW).values_list("pruned_through", flat=True).first() or 0


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
