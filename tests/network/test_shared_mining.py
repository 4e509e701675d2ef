"""A round's batch taken from a peer is mined here as the peer would: the block pays this node, its miner, the
experiment's mining reward."""

import json

from apps.core.keys import node_id
from apps.ledger import store
from apps.ledger.consensus import batch_receive
from apps.ledger.models import PendingBatch, Record
from apps.network import protocol, views

from ..ledger.conftest import round_records


def test_a_batch_from_a_peer_pays_whichever_node_mines_it(client, db):
    store.genesis_ensure()
    views._buckets.clear()
    store.batch_submit(
        experiment_id=7, round_number=0, parent_model=None, difficulty_bits=8, records=round_records(7, 0),
        mining_reward=25.0,
    )
    message = protocol.parse_batch(client.get("/p2p/v1/batches/7/0").json(), max_records=100)
    PendingBatch.objects.all().delete()  # from here on this node knows the round only as the peer sent it

    batch = batch_receive(
        experiment_id=message.experiment, round_number=message.round, parent_model=message.parent_model,
        difficulty_bits=message.difficulty_bits, records=message.records, mining_reward=message.mining_reward,
    )
    block = store.block_mine(batch=batch)

    bodies = [json.loads(body) for body in Record.objects.filter(block=block).order_by("position").values_list("body", flat=True)]
    paid = [(r["client"], r["amount"]) for r in bodies if r["type"] == "reward" and r.get("kind") == "mining"]
    assert paid == [(node_id(), 25.0)]
