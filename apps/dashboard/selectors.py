"""Reads for the dashboard: the state a page or a websocket snapshot starts from."""

from .models import PRUNING_ROW, OutboxPruning


def outbox_pruned_through():
    """The highest seq that may have been deleted from the outbox (0 if nothing ever was)."""
    return OutboxPruning.objects.filter(pk=PRUNING_ROW).values_list("pruned_through", flat=True).first() or 0


def overview_state():
    return {"experiments": [], "blocks": [], "chain": None, "mining": None}


def experiment_exists(experiment_id):
    return True


def experiment_state(experiment_id):
    return {"experiment": {"id": experiment_id}}
