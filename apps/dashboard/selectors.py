"""Reads for the dashboard: the state a page or a websocket snapshot starts from.

Each state is a JSON-ready dict built from committed rows, shaped like the events that later update it
(an experiment as its `experiment` event says it, a round as its `round` event, a block as its `block`
event), so the browser applies both with the same code.
"""

from django.db.models import F, Max, OuterRef, Q, Subquery

from apps.core.pagination import keyset_page
from apps.events.models import Event
from apps.events.services import last_event_seq
from apps.federated.models import Client, ClientUpdate, Experiment, Round
from apps.federated.selectors import ROUND_FIELDS, experiment_payload, round_payload
from apps.ledger.models import Block
from apps.ledger.reads import block_payload, chain_status

NEWEST_BLOCKS = 12
OVERVIEW_EXPERIMENTS = 25
REJECTIONS_SHOWN = 100
CLIENT_SERIES_SHOWN = 50
# Clients an experiment page (and its websocket snapshot) carries at a time: the clients chart draws the first
# page, the page links each client of a page and the next page; 10 000 clients are 50 pages of a few kilobytes.
CLIENTS_PAGE = 200
# Rounds an experiment page (and its snapshot) carries: the newest ones (an experiment may have 10 000); live
# events add the rounds recorded after. Every round is in the downloads and /api/experiments/<id>/rounds/.
ROUNDS_SHOWN = 500


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
        "curves": overview_curves(),
    }


def experiment_state(experiment_id):
    """The whole state of one experiment page; raises Experiment.DoesNotExist."""
    experiment = Experiment.objects.get(pk=experiment_id)
    recorded = Round.objects.filter(experiment=experiment)
    rounds = list(recorded.order_by("-number")[:ROUNDS_SHOWN])[::-1]
    blocks = Block.objects.filter(status=Block.Status.MAIN, experiment_id=experiment.id)
    mined = blocks.filter(round_number__gte=rounds[0].number) if rounds else blocks.none()
    return {
        "experiment": {
            **experiment_payload(experiment),
            "clients_per_round": _clients_per_round(experiment),
            "malicious_clients": _malicious_clients(experiment),
        },
        "rounds": [round_payload(round_row) for round_row in rounds],
        "round_count": recorded.count(),
        "mined": [block_payload(block) for block in mined.order_by("round_number")[:ROUNDS_SHOWN]],
        "clients": client_page(experiment.id).items,
        "client_count": Client.objects.filter(experiment=experiment).count(),
        "blocks": _newest_blocks(blocks),
        "chain": chain_status(),
        "mining": _latest_mining_progress(Event.objects.filter(experiment_id=experiment.id)),
    }


def client_page(experiment_id, *, after=None, limit=CLIENTS_PAGE):
    """The experiment's clients with an index above `after`, at most `limit`, in index order (keyset_page: the
    next page's `after` is its next_key)."""
    clients = Client.objects.filter(experiment_id=experiment_id).order_by("index")
    if after is not None:
        clients = clients.filter(index__gt=after)
    rows = clients.values("index", "shard_size", "label_counts")[: limit + 1]
    return keyset_page(rows, limit=limit, key=lambda client: client["index"])


def _clients_per_round(experiment):
    if experiment.kind == Experiment.Kind.FLOWER:
        return experiment.clients  # the Flower nodes seen so far
    return experiment.config().clients_per_round


def _malicious_clients(experiment):
    if experiment.kind == Experiment.Kind.FLOWER:
        return 0  # an external federation's clients are its own
    return experiment.config().malicious_clients


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


# --- curves, comparison and the experiment list ---------------------------------------------------------

OVERVIEW_CURVES = 5
CURVE_POINTS = 500
COMPARED_MAX = 8
CURVE_FIELDS = ("loss", "accuracy", "baseline_loss", "baseline_accuracy")  # names of ROUND_FIELDS


def experiment_curves(experiment_id, *, points=CURVE_POINTS):
    """The experiment's loss and accuracy per round, at most about `points` of them: every k-th round and the
    last, so a 10 000-round experiment costs no more to draw than a 500-round one."""
    rounds = Round.objects.filter(experiment_id=experiment_id)
    last = rounds.order_by("-number").values_list("number", flat=True).first()
    if last is None:
        return []
    stride = max(1, -(-(last + 1) // points))
    if stride > 1:
        rounds = rounds.annotate(phase=F("number") % stride).filter(Q(phase=0) | Q(number=last))
    return [
        dict(zip(("round", *CURVE_FIELDS), row))
        for row in rounds.order_by("number").values_list("number", *(ROUND_FIELDS[name] for name in CURVE_FIELDS))
    ]


def overview_curves():
    """The curves the dashboard draws: running experiments first, then the newest, OVERVIEW_CURVES at most."""
    running = list(
        Experiment.objects.filter(status=Experiment.Status.RUNNING).order_by("-id").values_list("id", flat=True)[
            :OVERVIEW_CURVES
        ]
    )
    newest = Experiment.objects.exclude(pk__in=running).order_by("-id").values_list("id", flat=True)
    chosen = running + list(newest[: OVERVIEW_CURVES - len(running)])
    return [{"experiment": experiment_id, "rounds": experiment_curves(experiment_id)} for experiment_id in chosen]


def _best(rounds, metric, pick):
    scored = [r for r in rounds if r[metric] is not None and r["round"] > 0]
    return pick(scored, key=lambda r: r[metric]) if scored else None


def experiments_compared(experiment_ids):
    """What the comparison view shows of these experiments (in the order given; missing ones are skipped):
    their curves, final and best metrics, and the settings whose values differ between them."""
    found = {experiment.id: experiment for experiment in Experiment.objects.filter(pk__in=experiment_ids)}
    compared = []
    for experiment_id in experiment_ids:
        experiment = found.get(experiment_id)
        if experiment is None:
            continue
        rounds = experiment_curves(experiment_id)
        final = rounds[-1] if rounds else None
        best_accuracy = _best(rounds, "accuracy", max)
        best_loss = _best(rounds, "loss", min)
        compared.append(
            {
                **experiment_payload(experiment),
                "rounds": rounds,
                "final": final,
                "best_accuracy": best_accuracy and {"round": best_accuracy["round"], "value": best_accuracy["accuracy"]},
                "best_loss": best_loss and {"round": best_loss["round"], "value": best_loss["loss"]},
            }
        )
    names = list(compared[0]["settings"]) if compared else []
    differing = [name for name in names if len({repr(e["settings"][name]) for e in compared}) > 1]
    return {
        "experiments": compared,
        "differing": differing,
        "same": {name: compared[0]["settings"][name] for name in names if name not in differing},
        "missing": [i for i in experiment_ids if i not in found],
    }


EXPERIMENT_FILTERS = ("status", "dataset", "partition", "aggregator", "model")


def experiment_rows(filters):
    """The experiment list, newest first, with the last round's and the best metrics; `filters` maps some of
    EXPERIMENT_FILTERS to a value each (anything else is ignored)."""
    last = Round.objects.filter(experiment=OuterRef("pk")).order_by("-number")
    rows = Experiment.objects.order_by("-id").annotate(
        last_round=Subquery(last.values("number")[:1]),
        final_loss=Subquery(last.values("test_loss")[:1]),
        final_accuracy=Subquery(last.values("test_accuracy")[:1]),
        best_accuracy=Max("round_set__test_accuracy"),
    )
    chosen = {name: value for name, value in filters.items() if name in EXPERIMENT_FILTERS and value}
    return rows.filter(**chosen)


def experiment_filter_choices():
    """The values each list filter can take, as they occur in the stored experiments."""
    return {
        name: sorted(Experiment.objects.order_by().values_list(name, flat=True).distinct())
        for name in EXPERIMENT_FILTERS
    }


# --- downloads ------------------------------------------------------------------------------------------

# A downloaded round: the round's one shape (ROUND_FIELDS, less the experiment the file is of) and its block.
_ROUND_EXPORTED = [name for name in ROUND_FIELDS if name != "experiment"]
ROUND_COLUMNS = (*_ROUND_EXPORTED, "block_height", "block_hash")
UPDATE_COLUMNS = ("round", "client", "samples", "train_loss", "accepted", "reason", "train_seconds", "update_hash")
EXPORT_CHUNK = 2000


def round_rows(experiment_id, *, number=None):
    """Each recorded round of the experiment (or only round `number`) with the main block that holds it, as
    tuples in ROUND_COLUMNS order, read in chunks so a long experiment streams in bounded memory."""
    blocks = dict(
        (row[0], row[1:])
        for row in Block.objects.filter(status=Block.Status.MAIN, experiment_id=experiment_id).values_list(
            "round_number", "height", "hash"
        )
    )
    rounds = Round.objects.filter(experiment_id=experiment_id).order_by("number")
    if number is not None:
        rounds = rounds.filter(number=number)
    columns = [ROUND_FIELDS[name] for name in _ROUND_EXPORTED]
    for row in rounds.values_list(*columns).iterator(chunk_size=EXPORT_CHUNK):
        yield (*row, *blocks.get(row[0], (None, None)))


def update_rows(experiment_id, *, number=None, client=None):
    """Each client update of the experiment (optionally of one round and/or one client), in UPDATE_COLUMNS
    order, by round then client, read in chunks."""
    updates = ClientUpdate.objects.filter(round__experiment_id=experiment_id)
    if number is not None:
        updates = updates.filter(round__number=number)
    if client is not None:
        updates = updates.filter(client__index=client)
    return updates.order_by("round__number", "client__index").values_list(
        "round__number", "client__index", "samples", "train_loss", "accepted", "reason", "train_seconds",
        "update_hash",
    ).iterator(chunk_size=EXPORT_CHUNK)

