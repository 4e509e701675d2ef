"""What a peer sends is never trusted: garbage, invalid headers or blocks, oversized answers and floods are
refused, the peer is scored down (banned for proof of malice), and nothing is stored."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.ledger import store
from apps.ledger.genesis import genesis_block
from apps.ledger.models import Block
from apps.ledger.reads import chain_params
from apps.network import protocol, views
from apps.network.models import Misbehaviour, Peer
from apps.network.services import node_hello, peer_add, peer_banned, peer_sync

STRANGER = "cd" * 32


class FakePeer:
    """A loopback HTTP server answering the protocol's paths with whatever a test puts in `answers`
    (path -> (status, bytes)); its hello claims a heavier chain so that a sync asks it for more."""

    def __init__(self):
        self.answers = {}
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0].removeprefix(protocol.PREFIX)
                status, body = peer.answers.get(path, (404, b'{"error": "no"}'))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hello(self, **tip):
        message = protocol.hello_message(
            node=STRANGER, genesis=genesis_block(chain_params()).hash_hex, params=chain_params().as_dict(),
            tip_height=tip.get("height", 5), tip_hash=tip.get("hash", "ee" * 32), chainwork_hex="f" * 64, url=None,
        )
        self.answers["hello"] = (200, json.dumps(message).encode())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(db):
    store.genesis_ensure()
    peer = FakePeer()
    peer.hello()
    yield peer
    peer.close()


def sync(fake):
    peer = peer_add(url=fake.url)
    report = peer_sync(peer)
    peer.refresh_from_db()
    return peer, report


def test_garbage_is_malformed_and_scored_down(fake):
    fake.answers["headers"] = (200, b"\x00\xffnot json")
    peer, report = sync(fake)
    assert "not JSON" in report["error"]
    assert 0 < peer.score < 100 and not peer_banned(peer)
    assert Misbehaviour.objects.filter(peer=peer, offence="malformed").exists()
    assert Block.objects.count() == 1


def test_an_invalid_header_bans_the_peer_and_nothing_is_fetched(fake):
    genesis = Block.objects.get(height=0)
    forged = bytearray(80)
    forged[4:36] = bytes.fromhex(genesis.hash)[::-1]  # links to genesis...
    forged[72:76] = (0x1D00FFFF).to_bytes(4, "little")  # ...with bits the pow limit does not allow
    fake.answers["headers"] = (200, json.dumps({"headers": [bytes(forged).hex()]}).encode())
    peer, report = sync(fake)
    assert peer_banned(peer) and peer.score >= 100
    assert Misbehaviour.objects.filter(peer=peer, offence="invalid-header").exists()
    assert Block.objects.count() == 1
    # A banned peer is not contacted: a second sync does nothing.
    assert peer_sync(peer)["error"] == "banned"


def test_an_oversized_answer_is_cut_off(fake):
    fake.answers["headers"] = (200, b"[" + b" " * (protocol.MAX_HEADERS_BYTES + 10) + b"]")
    peer, report = sync(fake)
    assert "limit" in report["error"]
    assert Misbehaviour.objects.filter(peer=peer, offence="oversized").exists()


def test_another_chain_is_refused(fake):
    message = json.loads(fake.answers["hello"][1])
    fake.answers["hello"] = (200, json.dumps({**message, "genesis": "00" * 32}).encode())
    peer, report = sync(fake)
    assert "another chain" in report["error"] and peer_banned(peer)


def test_an_unreachable_peer_backs_off_without_being_scored(db):
    store.genesis_ensure()
    peer = peer_add(url="http://127.0.0.1:9")  # discard port: nothing listens
    report = peer_sync(peer)
    peer.refresh_from_db()
    assert report["error"] and peer.failures == 1 and peer.score == 0 and peer.next_attempt_at is not None


@pytest.fixture
def endpoints(client, db, settings):
    store.genesis_ensure()
    views._buckets.clear()
    views._flagged.clear()
    yield client
    views._buckets.clear()


def test_endpoints_answer_within_their_limits(endpoints):
    hello = endpoints.get("/p2p/v1/hello").json()
    assert hello == node_hello()
    genesis = Block.objects.get(height=0)
    assert endpoints.get(f"/p2p/v1/headers?locator={genesis.hash}").json() == {"headers": []}
    block = endpoints.get(f"/p2p/v1/blocks/{genesis.hash}").json()
    assert block["header"] == genesis.header_bytes.hex()
    for path, status in [
        ("/p2p/v1/headers?locator=xyz", 400),
        ("/p2p/v1/headers", 400),
        (f"/p2p/v1/blocks/{'ab' * 32}", 404),
        ("/p2p/v1/blocks/nothex", 400),
        (f"/p2p/v1/blobs/{'ab' * 32}", 404),
        ("/p2p/v1/batches/1/0", 404),
        (f"/p2p/v1/blocks?hashes={'ab' * 32}", 404),
        ("/p2p/v1/blocks", 400),
        ("/p2p/v1/blocks?hashes=" + ",".join(["ab" * 32] * (protocol.MAX_BLOCKS_PER_REQUEST + 1)), 400),
    ]:
        response = endpoints.get(path)
        assert response.status_code == status and "error" in response.json(), path


def test_blocks_are_served_many_a_request_in_the_order_asked_within_the_size_limit(endpoints, monkeypatch):
    from ..ledger.conftest import mine_rounds

    mined = mine_rounds(3, 5)
    hashes = [block.hash for block in mined]
    answer = protocol.parse_blocks(endpoints.get("/p2p/v1/blocks?hashes=" + ",".join(hashes)).json(), max_records=100)
    assert [block.header for block in answer] == [block.header_bytes for block in mined]
    missing = hashes[:2] + ["ab" * 32] + hashes[2:]
    answer = protocol.parse_blocks(endpoints.get("/p2p/v1/blocks?hashes=" + ",".join(missing)).json(), max_records=100)
    assert len(answer) == 2  # up to the first block it does not hold
    later = hashes[1:]  # rounds 1.. : blocks of (nearly) one size
    one_block = len(endpoints.get(f"/p2p/v1/blocks/{later[0]}").content)
    monkeypatch.setattr(protocol, "MAX_BLOCK_BYTES", int(one_block * 2.5))
    answer = protocol.parse_blocks(endpoints.get("/p2p/v1/blocks?hashes=" + ",".join(later)).json(), max_records=100)
    assert len(answer) == 2  # what fits; the sender asks again for the rest


def test_an_oversized_or_garbage_announcement_is_refused_unread(endpoints):
    response = endpoints.post(
        "/p2p/v1/inv", data=b"x" * (protocol.MAX_REQUEST_BYTES + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert Misbehaviour.objects.filter(offence="oversized").exists()
    assert endpoints.post("/p2p/v1/inv", data=b"{not json", content_type="application/json").status_code == 400
    bad = {"items": [{"type": "block", "hash": "no"}]}
    assert endpoints.post("/p2p/v1/inv", data=bad, content_type="application/json").status_code == 400
    good = protocol.inventory_message(sender=None, blocks=["ab" * 32])
    assert endpoints.post("/p2p/v1/inv", data=good, content_type="application/json").status_code == 202
    assert Peer.objects.count() == 0  # an anonymous announcement adds no peer


def test_a_flood_is_refused_beyond_the_rate(endpoints, settings, monkeypatch):
    settings.FEDCHAIN_P2P_RATE = 5
    now = [1000.0]
    monkeypatch.setattr(views, "clock", lambda: now[0])  # the flood arrives within one instant
    codes = [endpoints.get("/p2p/v1/hello").status_code for _ in range(40)]
    assert codes.count(200) == 10 and codes.count(429) == 30  # a burst of twice the rate, then refused
    assert Misbehaviour.objects.filter(offence="flood").count() == 1  # once a second, not once a request
    now[0] += 1.0
    codes = [endpoints.get("/p2p/v1/hello").status_code for _ in range(10)]
    assert codes.count(200) == 5  # a second later, a second's worth of requests again
    assert Misbehaviour.objects.filter(offence="flood").count() == 2
