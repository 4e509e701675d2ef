"""Rows of a crowded installation, built directly (nobody trains 10 000 clients to test a page of them)."""

import hashlib
import json

from apps.core.db import rows_insert
from apps.federated.models import Client
from apps.ledger.models import Record


def clients_add(experiment, *, up_to):
    """Clients of `experiment` up to index up_to - 1 beside those it has, each with 180 samples of 10 classes."""
    start = Client.objects.filter(experiment=experiment).count()
    labels = json.dumps([18] * 10)
    rows_insert(
        Client, ["experiment_id", "index", "shard_size", "label_counts", "external_id", "malicious"],
        [(experiment.id, index, 180, labels, "", False) for index in range(start, up_to)],
    )


def records_add(block, count, *, padding):
    """`count` more records of type "note" in `block`, each carrying `padding`; returns their bytes in all."""
    start = block.records.count()
    rows = []
    for position in range(start, start + count):
        body = json.dumps({"note": padding, "position": position, "type": "note"}, separators=(",", ":"), sort_keys=True)
        rows.append((block.id, position, body, hashlib.sha256(body.encode()).hexdigest(), "note", None, None))
    rows_insert(Record, ["block_id", "position", "body", "txid", "type", "experiment_id", "round_number"], rows)
    return sum(len(row[2]) for row in rows)


def rounds_add(experiment, *, up_to):
    """Rounds of `experiment` up to number up_to - 1 beside those it has (metrics only: no updates, no blocks)."""
    from apps.federated.models import Round

    start = Round.objects.filter(experiment=experiment).count()
    Round.objects.bulk_create(
        Round(experiment=experiment, number=number, global_model_hash="0" * 64, test_loss=1.0 / (number + 1),
              test_accuracy=0.5, clients_sampled=3, clients_accepted=3)
        for number in range(start, up_to)
    )


def updates_add(round_row):
    """An update of every client of the round's experiment in `round_row` (rows only: no blobs, no records)."""
    from apps.federated.models import ClientUpdate

    clients = Client.objects.filter(experiment_id=round_row.experiment_id).order_by("index")
    ClientUpdate.objects.bulk_create(
        (ClientUpdate(round=round_row, client=client, samples=180, update_hash=f"{client.index:064x}", train_loss=0.5,
                      accepted=True) for client in clients.iterator()),
        batch_size=1000,
    )
