from django.db import connection, transaction

from .models import Event

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
