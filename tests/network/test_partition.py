"""A network split in two mines on both sides; when the link returns, every node takes the branch with more work
in one reorganisation, and no round is lost or recorded twice."""

import pytest

from .nodes import same_tip, wait
from .test_sync import finished, main_rounds, run_background

pytestmark = pytest.mark.slow


def link(node, others, action):
    for other in others:
        node.manage("peer", action, other.url)


def test_partition_and_heal(network):
    # The split is configured before any node starts: a knows no peer, b and c know only each other. Nodes learn
    # addresses from each other (peer lists, announcements), so a split made by removing peers from running nodes
    # leaks: a sync or an announcement under way while the removals run hands the removed address back.
    a, b, c = network(3, links={0: [], 1: [2], 2: [1]})
    alone = run_background(a, 2)  # the side of one: 3 blocks
    pair = run_background(b, 4)  # the side of two: 5 blocks, more work
    wait(lambda: finished(a, alone) and finished(b, pair), 240, "both sides to mine their experiment")
    wait(lambda: same_tip([b, c]), 60, "b and c to agree")
    assert a.tip()["hash"] != b.tip()["hash"]
    assert [row[0] for row in a.sql("SELECT url FROM network_peer")] == []  # nobody told a of the other side
    link(a, [b, c], "add")  # b and c learn a back from its announcements
    wait(lambda: same_tip([a, b, c]) and all(len(main_rounds(n, alone)) == 3 for n in (a, b, c)), 180,
         "all nodes on one chain holding both experiments")
    for node in (a, b, c):
        assert main_rounds(node, alone) == [(0,), (1,), (2,)]
        assert main_rounds(node, pair) == [(n,) for n in range(5)]
        rounds = node.sql("SELECT experiment_id, round_number, count(*) FROM ledger_block WHERE status='main' "
                          "GROUP BY experiment_id, round_number HAVING count(*) > 1")
        assert rounds == []  # nothing recorded twice
    # a lost its branch in a reorganisation, told by one event, and kept the blocks as stale
    reorgs = a.sql("SELECT payload FROM events_event WHERE type='reorg'")
    assert reorgs, "no reorg event on the node that switched"
    assert a.sql("SELECT count(*) FROM ledger_block WHERE status='stale' AND experiment_id=?", (alone,))[0][0] >= 3
