from django.db import models

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
