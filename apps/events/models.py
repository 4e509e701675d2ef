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
