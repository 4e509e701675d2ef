"""Reads for the dashboard: the state a page or a websocket snapshot starts from.

Each state is a JSON-ready dict built from committed rows, shaped like the events that later update it
(an experiment as its `experiment` event says it, a round as its `round` event, a block as its `block`
event), so the browser applies both with the same code.
"""

from apps.events.models import Event
from apps.events.services import last_event_seq
from apps.federated.models import Client, ClientUpdate, Experiment, Round
from apps.federated.services import experiment_payload, round_payload
from apps.ledger.models import Block
from apps.ledger.services import block_payload, chain_status

NEWEST_BLOCKS = 12
OVERVIEW_EXPERIMENTS = 25
REJECTIONS_SHOWN = 100
CLIENT_SERIES_SHOWN = 50


def snapshot(build, *args):
    """(seq, build(*args)): a state at least as new as event seq, since seq is read first. Events after
    seq may already show in it; the browser applies them idempotently."""
    seq = last_event_seq()
    return seq, build(*args)


def experiment_exists(experiment_id):
    return Experiment.objects.filter(pk=experiment_id).exists()


def overview_state():
    experiments = list(Experiment.objects.order_by("-id")[:OVERVIEW_EXPERIMENTS])
    return {
        "experiments": [_experiment_summary(experiment) for experiment in experiments],
        "experiment_count": Experiment.objects.count(),
        "blocks": _newest_blocks(Block.objects.filter(status=Block.Status.MAIN)),
        "chain": chain_status(),
        "mining": _latest_mining_progress(Event.objects.all()),
    }


def experiment_state(experiment_id):
    """The whole state of one experiment page; raises Experiment.DoesNotExist."""
    experiment = Experiment.objects.get(pk=experiment_id)
    rounds = list(Round.objects.filter(experiment=experiment).order_by("number"))
    blocks = Block.objects.filter(status=Block.Status.MAIN, experiment_id=experiment.id)
    mined = {
        row["round_number"]: row
        for row in blocks.values("round_number", "height", "hash", "mined_seconds", "hash_rate")
    }
    return {
        "experiment": {**experiment_payload(experiment), "clients_per_round": experiment.config().clients_per_round},
        "rounds": [round_payload(round_row) for round_row in rounds],
        "mined": [mined[number] for number in sorted(mined)],
        "clients": list(Client.objects.filter(experiment=experiment).values("index", "shard_size", "label_counts")),
        "blocks": _newest_blocks(blocks),
        "chain": chain_status(),
        "mining": _latest_mining_progress(Event.objects.filter(experiment_id=experiment.id)),
    }


def experiment_client_detail(experiment_id):
    """Per-client training loss by round (for the first clients) and the rejected updates, newest first."""
    updates = ClientUpdate.objects.filter(round__experiment_id=experiment_id)
    shown = list(
        Client.objects.filter(experiment_id=experiment_id).order_by("index").values_list("index", flat=True)[
            :CLIENT_SERIES_SHOWN
        ]
    )
    series = {index: [] for index in shown}
    for index, number, loss, accepted in (
        updates.filter(client__index__in=shown)
        .order_by("client__index", "round__number")
        .values_list("client__index", "round__number", "train_loss", "accepted")
    ):
        series[index].append({"round": number, "loss": loss, "accepted": accepted})
    rejected = (
        updates.filter(accepted=False)
        .order_by("-round__number", "client__index")
        .values_list("round__number", "client__index", "reason")[:REJECTIONS_SHOWN]
    )
    return {
        "clients": [{"index": index, "updates": series[index]} for index in shown],
        "client_count": Client.objects.filter(experiment_id=experiment_id).count(),
        "rejected": [{"round": number, "client": index, "reason": reason} for number, index, reason in rejected],
        "rejected_count": updates.filter(accepted=False).count(),
    }


def _experiment_summary(experiment):
    last = Round.objects.filter(experiment=experiment).order_by("-number").first()
    return {**experiment_payload(experiment), "last_round": round_payload(last) if last else None}


def _newest_blocks(blocks):
    return [block_payload(block) for block in blocks.order_by("-height")[:NEWEST_BLOCKS]]


def _latest_mining_progress(events):
    event = events.filter(type=Event.Type.MINING_PROGRESS).order_by("-id").first()
    return event.as_message() if event else None
