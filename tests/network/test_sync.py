"""Nodes agree: an experiment on one node is mined by several, every node ends with the same chain and can
audit every round; a killed node and a new empty node catch up."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from .nodes import Node, same_tip, wait

pytestmark = pytest.mark.slow

# Iris, three clients: rounds train in tens of milliseconds, so the time goes to mining and propagation. At 22 bits
# a block takes seconds to find, much longer than a batch takes to reach the other nodes, so they race for it as
# equals: at 20 bits the node that recorded the round often found the block before the others had its batch,
# and in one clean-clone run it mined all 11.
EXPERIMENT = ["--dataset", "iris", "--clients", "3", "--model", "softmax", "--local-epochs", "1", "--no-baseline"]


def run_background(node, rounds, *, difficulty_bits=18):
    result = node.manage(
        "run_experiment", *EXPERIMENT, "--rounds", str(rounds), "--difficulty-bits", str(difficulty_bits), "--background"
    )
    return int(next(word for word in reversed(result.stdout.split()) if word.isdigit()))


def main_rounds(node, experiment):
    return node.sql(
        "SELECT round_number FROM ledger_block WHERE status='main' AND experiment_id=? ORDER BY height", (experiment,)
    )


def finished(node, experiment):
    return node.sql("SELECT status FROM federated_experiment WHERE id=?", (experiment,)) == [("finished",)]


def test_three_nodes_share_one_chain_and_nodes_that_were_away_catch_up(network, tmp_path):
    a, b, c = network(3)
    experiment = run_background(a, 10, difficulty_bits=22)
    wait(lambda: len(main_rounds(a, experiment)) >= 3, 120, "rounds 0..2 on the chain")
    b.kill()  # mid-experiment, every process at once
    wait(lambda: finished(a, experiment), 240, "the experiment to finish with one node down")
    wait(lambda: same_tip([a, c]), 60, "a and c to agree")
    b.launch()  # the same data directory: it syncs what it missed
    d = Node(tmp_path, "node4", template=a.template)
    d.peers = [a.url]  # a new, empty node that knows one peer
    d.launch()
    try:
        b.ready()
        d.ready()
        tip = wait(lambda: same_tip([a, b, c, d]), 120, "all four nodes on one tip")
        assert main_rounds(d, experiment) == [(n,) for n in range(11)]  # each round once, in order
        nodes = (a, b, c, d)
        with ThreadPoolExecutor(len(nodes)) as pool:  # each a process of its own: side by side
            chains = [chain["blocks"] for chain in pool.map(lambda node: node.export(), nodes)]
            audits = list(pool.map(lambda node: node.audit_all(experiment), nodes))
        assert all(chain == chains[0] for chain in chains) and chains[0][-1]["hash"] == tip["hash"]
        miners = {row[0] for row in a.sql("SELECT mined_by FROM ledger_block WHERE status='main' AND height > 0")}
        assert len(miners - {""}) >= 2, "every block was mined by one node"
        for node, audit in zip(nodes, audits):  # every node re-derives every round from the chain and the blobs
            assert audit == [[]] * 11, node.name
        report = json.loads(d.manage("audit_round", str(experiment), "10", "--json").stdout)
        assert report["ok"], report
    finally:
        d.stop()
