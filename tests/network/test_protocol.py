"""The pure parts of the network: message checks and limits, block locators, peer scores."""

import pytest

from apps.ledger.locator import locator_heights
from apps.network import protocol, scoring
from apps.network.protocol import ProtocolError

H = "ab" * 32


def test_locator_is_dense_near_the_tip_then_doubles_and_ends_at_genesis():
    assert locator_heights(0) == [0]
    assert locator_heights(3) == [3, 2, 1, 0]
    heights = locator_heights(1000)
    assert heights[:10] == list(range(1000, 990, -1))
    gaps = [a - b for a, b in zip(heights[9:], heights[10:-1])]
    assert gaps == [2 ** k for k in range(1, len(gaps) + 1)]
    assert heights[-1] == 0 and len(locator_heights(10**6)) < 40
    with pytest.raises(ValueError):
        locator_heights(-1)


def test_inventory_within_limits_is_parsed_and_anything_else_refused():
    message = protocol.inventory_message(sender="http://127.0.0.1:8001/", blocks=[H], batches=[(7, 3)])
    parsed = protocol.parse_inventory(message)
    assert parsed == protocol.Inventory("http://127.0.0.1:8001", (H,), ((7, 3),))
    too_many = {"items": [{"type": "block", "hash": H}] * (protocol.MAX_INVENTORY + 1)}
    for bad in (
        [],
        {"items": "x"},
        too_many,
        {"items": [{"type": "block", "hash": H.upper()}]},
        {"items": [{"type": "batch", "experiment": -1, "round": 0}]},
        {"items": [{"type": "batch", "experiment": True, "round": 0}]},
        {"items": [{"type": "tx"}]},
        {"from": "ftp://x", "items": []},
        {"from": "http://x:0", "items": []},
    ):
        with pytest.raises(ProtocolError):
            protocol.parse_inventory(bad)


def test_headers_blocks_and_batches_are_checked_in_shape():
    assert protocol.parse_headers({"headers": ["00" * 80]}) == [bytes(80)]
    for bad in ({"headers": ["00" * 79]}, {"headers": ["zz" * 80]}, {"headers": ["00" * 80] * (protocol.MAX_HEADERS + 1)}):
        with pytest.raises(ProtocolError):
            protocol.parse_headers(bad)
    block = protocol.block_message(hash_hex=H, header=bytes(80), records=[b'{"type":"coinbase"}'])
    assert protocol.parse_block(block, max_records=10).records == (b'{"type":"coinbase"}',)
    with pytest.raises(ProtocolError):
        protocol.parse_block({**block, "records": [1]}, max_records=10)
    with pytest.raises(ProtocolError):
        protocol.parse_block({**block, "records": ["{}"] * 11}, max_records=10)
    with pytest.raises(ProtocolError):
        protocol.parse_block({**block, "mined_by": {"node": H, "signature": "00"}}, max_records=10)
    batch = protocol.batch_message(experiment=5, round_number=1, parent_model=H, difficulty_bits=12, records=[b"{}"])
    assert protocol.parse_batch(batch, max_records=3).parent_model == H
    with pytest.raises(ProtocolError):
        protocol.parse_batch({**batch, "difficulty_bits": 256}, max_records=3)
    assert protocol.parse_batch(batch, max_records=3).mining_reward is None
    assert protocol.parse_batch({**batch, "mining_reward": 50}, max_records=3).mining_reward == 50.0
    for reward in (-1, 1e10, "50", True, float("nan"), float("inf")):
        with pytest.raises(ProtocolError):
            protocol.parse_batch({**batch, "mining_reward": reward}, max_records=3)
    assert protocol.parse_locator(f"{H},{H}") == [H, H]
    with pytest.raises(ProtocolError):
        protocol.parse_locator(",".join([H] * (protocol.MAX_LOCATOR + 1)))


def test_hello_names_the_node_and_its_tip():
    message = protocol.hello_message(
        node=H, genesis=H, params={"a": 1}, tip_height=3, tip_hash=H, chainwork_hex="0" * 63 + "f", url=None
    )
    hello = protocol.parse_hello(message)
    assert (hello.tip.height, hello.tip.chainwork, hello.url) == (3, 15, None)
    with pytest.raises(ProtocolError):
        protocol.parse_hello({**message, "tip": {"height": 3, "hash": H, "chainwork": "f"}})


def test_scores_ban_at_once_for_proof_of_malice_and_decay_for_slips():
    points, banned = scoring.penalise(0, 0, "invalid-block")
    assert banned and points == scoring.BAN_POINTS
    points, banned = scoring.penalise(0, 0, "malformed")
    assert not banned
    for _ in range(4):
        points, banned = scoring.penalise(points, 0, "malformed")
    assert banned  # five malformed messages in a row
    assert scoring.decayed(80, scoring.DECAY_SECONDS) == pytest.approx(40)
    with pytest.raises(ValueError):
        scoring.penalise(0, 0, "rudeness")
    assert [scoring.backoff_seconds(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 32, 60]


def test_token_bucket_allows_bursts_then_the_rate():
    bucket = scoring.TokenBucket(rate=10, burst=20, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(100)) == 20
    assert sum(bucket.take(1.0) for _ in range(100)) == 10
