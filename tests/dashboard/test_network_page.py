"""The network page: this node's peers, the peers that disagree, reorganisations and stale blocks."""

from django.utils import timezone

from apps.events.models import Event
from apps.events.services import event_emit
from apps.ledger import store
from apps.network.models import Peer


def test_the_network_page_shows_peers_disagreements_reorgs_and_stale_blocks(client, db):
    genesis = store.genesis_ensure()
    Peer.objects.create(url="http://127.0.0.1:8001", node_id="ab" * 32, tip_height=7, tip_hash="cd" * 32,
                        chainwork="f" * 64, latency_ms=12.4, last_seen=timezone.now())
    event_emit(type=Event.Type.REORG, payload={
        "fork": {"height": 0, "hash": genesis.hash},
        "old_tip": {"height": 2, "hash": "11" * 32, "chainwork": "0" * 64},
        "new_tip": {"height": 3, "hash": "22" * 32, "chainwork": "0" * 64},
        "stale": [{}, {}], "main": [{}, {}, {}],
    })
    state = client.get("/api/network/").json()
    assert [p["url"] for p in state["peers"]] == ["http://127.0.0.1:8001"]
    assert state["disagreements"] == [{"peer": "http://127.0.0.1:8001", "tip_height": 7, "tip_hash": "cd" * 32,
                                       "heavier": True}]
    assert [(r["fork_height"], r["left"], r["joined"]) for r in state["reorgs"]] == [(0, 2, 3)]
    page = client.get("/network/").content.decode()
    assert "http://127.0.0.1:8001" in page and "12 ms" in page
    assert "Peers hold another chain" in page and "chain_repair" in page
    Peer.objects.update(tip_hash=genesis.hash)  # the peer's tip is on our chain: no disagreement
    assert client.get("/api/network/").json()["disagreements"] == []
    assert "No peer seen lately" in client.get("/network/").content.decode()
