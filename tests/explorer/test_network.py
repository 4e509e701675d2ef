"""GET /api/network/: this node's peers as it last saw them, peers whose chain disagrees with ours, stale blocks
and the newest reorganisations (the dashboard's network page shows the same, refreshed from it)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.keys import node_id
from apps.events.models import Event
from apps.events.services import event_emit
from apps.ledger.models import Block
from apps.network.models import Peer

pytestmark = pytest.mark.django_db


def reorg_payload(fork, old_tip, new_tip, *, stale=1, main=2, repair=False):
    def tip(height, mark):
        return {"height": height, "hash": mark * 64, "chainwork": "0" * 63 + "9"}

    payload = {
        "fork": {"height": fork, "hash": "f" * 64},
        "old_tip": tip(old_tip, "a"),
        "new_tip": tip(new_tip, "b"),
        "stale": [{"hash": f"{n:064x}", "status": "stale"} for n in range(stale)],
        "main": [{"hash": f"{n + 100:064x}", "status": "main"} for n in range(main)],
    }
    return {**payload, "repair": True} if repair else payload


def test_peers_disagreements_stale_blocks_and_reorganisations(client, stale_block):
    tip = Block.objects.filter(status="main").order_by("-height").first()
    now = timezone.now()
    Peer.objects.create(url="http://127.0.0.1:9001", node_id="c" * 64, tip_height=tip.height, tip_hash=tip.hash,
                        chainwork=tip.chainwork, latency_ms=3.5, last_seen=now)
    heavier = f"{tip.chainwork_int + 1:064x}"
    Peer.objects.create(url="http://127.0.0.1:9002", tip_height=tip.height + 1, tip_hash="d" * 64, chainwork=heavier,
                        last_seen=now - timedelta(seconds=5))
    event_emit(type=Event.Type.REORG, payload=reorg_payload(2, 3, 4))
    event_emit(type=Event.Type.REORG, payload=reorg_payload(1, 4, 4, stale=3, main=0, repair=True))

    network = client.get("/api/network/").json()
    assert network["node"] == node_id() and network["tip"] == {"height": tip.height, "hash": tip.hash}
    by_url = {peer["url"]: peer for peer in network["peers"]}
    assert by_url["http://127.0.0.1:9001"]["tip_hash"] == tip.hash and by_url["http://127.0.0.1:9001"]["latency_ms"] == 3.5
    assert network["disagreements"] == [
        {"peer": "http://127.0.0.1:9002", "tip_height": tip.height + 1, "tip_hash": "d" * 64, "heavier": True}
    ]
    assert network["stale_count"] == 1 and [block["hash"] for block in network["stale"]] == [stale_block.hash]
    repair, reorg = network["reorgs"]  # newest first
    assert repair["repair"] and (repair["left"], repair["joined"]) == (3, 0)
    assert not reorg["repair"] and reorg["fork_height"] == 2 and (reorg["left"], reorg["joined"]) == (1, 2)
    assert reorg["old_tip"]["height"] == 3 and reorg["new_tip"]["hash"] == "b" * 64


def test_the_network_page_refreshes_from_the_api(client, db):
    page = client.get("/network/").content.decode()
    assert 'data-url="/api/network/"' in page
