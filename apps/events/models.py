from django.db import models


class Event(models.Model):
    """One entry of the outbox: written in the transaction of the rows it describes.

    The primary key is the sequence number browsers resume from.
    """

    class Type(models.TextChoices):
        EXPERIMENT = "experiment"
        ROUND = "round"
        BLOCK = "block"
        CHAIN_STATUS = "chain_status"
        MINING_PROGRESS = "mining_progress"
        CLIENT_UPDATE = "client_update"
        REORG = "reorg"  # the main chain switched to a branch with more work

    type = models.CharField(max_length=32, choices=Type.choices)
    experiment_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # Pruning and "latest event of a type" read by type, newest first.
        indexes = [models.Index(fields=["type", "id"], name="event_type_seq")]

    @property
    def seq(self):
        return self.id

    def as_message(self):
        return {"seq": self.id, "type": self.type, "experiment": self.experiment_id, "data": self.payload}

    def __str__(self):
        return f"#{self.id} {self.type}"


PRUNING_ROW = 1


class OutboxPruning(models.Model):
    """How far old mining_progress events have been deleted from the outbox (a single row).

    A websocket resuming from a seq below pruned_through may have lost events: it gets a fresh
    snapshot instead of a gap.
    """

    pruned_through = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "outbox pruning"

    def __str__(self):
        return f"mining progress pruned through seq {self.pruned_through}"
