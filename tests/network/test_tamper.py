"""A node whose own database was tampered with (a record, a truncation, a re-mined tail signed with its own key)
reports that it disagrees with its peers and is repaired from them; the other nodes never take its bad blocks.
And a node attacked over the protocol (garbage, a 50 MB body, a flood) refuses it and stays up."""

import json
import threading

import httpx
import pytest

from .nodes import same_tip, wait
from .test_sync import finished, run_background

pytestmark = pytest.mark.slow

FORGE_TAIL = """
import json
from apps.ledger import consensus, store
from apps.ledger.models import PendingBatch, Record
from apps.ledger.mining import batch_mine_to_chain
tip = store.main_tip()
coinbase, *records = [json.loads(body) for body in Record.objects.filter(block=tip).order_by("position").values_list("body", flat=True)]
for record in records:
    if record["type"] == "global_model":
        record["accuracy"] = 1.0  # a better result than the training gave
consensus.blocks_set_aside(above_height=tip.height - 1)
PendingBatch.objects.filter(experiment_id=tip.experiment_id, round_number=tip.round_number).delete()
batch = store.batch_submit(experiment_id=tip.experiment_id, round_number=tip.round_number,
                           parent_model=coinbase["parent_model"], difficulty_bits=coinbase["difficulty_bits"],
                           records=records)
print(batch_mine_to_chain(batch=batch).hash)
"""


def verify(node):
    return node.manage("verify_chain", "--json", check=False)


def test_tampered_nodes_are_repaired_from_their_peers_who_never_take_the_bad_blocks(network):
    a, b, c = network(3)
    experiment = run_background(a, 4, difficulty_bits=12)
    wait(lambda: finished(a, experiment), 180, "the experiment")
    honest = wait(lambda: same_tip([a, b, c]), 60, "one tip")
    honest_chain = a.export()["blocks"]

    # 1. A record edited in place: the block hash stays, its Merkle root no longer holds.
    c.sql("UPDATE ledger_record SET body = replace(body, '\"samples\":', '\"samples\":1') "
          "WHERE type='client_update' AND round_number=2 AND experiment_id=?", (experiment,))
    result = verify(c)
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["first_invalid"]["height"] == 3, report
    repaired = json.loads(c.manage("chain_repair", "--json").stdout.strip().splitlines()[-1])
    assert repaired["valid"] and repaired["kept"] == 2 and repaired["set_aside"] >= 3
    assert c.export()["blocks"] == honest_chain

    # 2. The tail deleted, checkpoints and all.
    c.sql("DELETE FROM ledger_record WHERE block_id IN (SELECT id FROM ledger_block WHERE height >= 4)")
    c.sql("UPDATE ledger_pendingbatch SET block_id = NULL, status = 'pending' WHERE round_number >= 3")
    c.sql("DELETE FROM ledger_checkpoint WHERE height >= 4")
    c.sql("DELETE FROM ledger_block WHERE height >= 4")
    wait(lambda: same_tip([a, b, c]) == honest, 60, "c to sync the missing tail back from its peers")
    assert json.loads(verify(c).stdout)["valid"]

    # 3. The last block re-mined with other records, its checkpoint signed with c's own key: valid on its own,
    # but not the chain its peers hold. Forged while c is down; its verify_chain then names the peers' chain.
    c.stop()
    forged = c.manage("shell", "-c", FORGE_TAIL).stdout.strip().splitlines()[-1]
    assert forged != honest["hash"]
    report = json.loads(verify(c).stdout)
    assert report["valid"], report  # the key signed it: only the network can tell
    assert any(honest["hash"] in note for note in report["notes"]), report["notes"]
    # Back in the network, c takes the peers' chain by itself: equal work, and the honest block came first.
    c.start()
    wait(lambda: same_tip([a, b, c]) == honest, 60, "c back on the honest tip")
    for node in (a, b):  # the others never made the forged block main
        assert node.sql("SELECT count(*) FROM ledger_block WHERE hash=? AND status='main'", (forged,)) == [(0,)]
    assert c.export()["blocks"] == honest_chain
    assert c.audit_all(experiment) == [[]] * 5


def test_a_node_refuses_garbage_huge_bodies_and_floods_and_stays_up(network):
    (a,) = network(1, extra_env={"FEDCHAIN_P2P_RATE": "20"})
    inv = a.url + "/p2p/v1/inv"
    assert httpx.post(inv, content=b"\x00\x01garbage", trust_env=False).status_code == 400
    huge = httpx.post(inv, content=b"x" * (50 * 1024 * 1024), trust_env=False, timeout=60)
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"  # refused before anything reads it
    codes = []

    def hammer():
        with httpx.Client(trust_env=False, timeout=10) as client:
            for _ in range(250):
                try:
                    codes.append(client.get(a.url + "/p2p/v1/hello").status_code)
                except httpx.HTTPError:
                    codes.append(None)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(codes) == 1000 and codes.count(429) > 0 and set(codes) <= {200, 429}
    # Still up: it answers once the flood's rate limit for this address has refilled (429 until then).
    wait(lambda: a.hello() is not None, 30, "the flooded node to answer again")
    offences = a.sql("SELECT offence FROM network_misbehaviour")
    assert ("flood",) in offences
