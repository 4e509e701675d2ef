"""/api/blocks/<height or hash>/ and /blocks/<height or hash>/: header, neighbours, validity and records."""

import hashlib

import pytest
import rfc8785

from apps.ledger.models import Block

pytestmark = pytest.mark.django_db


def block_hash_of(header_hex):
    """Bitcoin's block hash: SHA-256d of the 80 header bytes, shown byte-reversed."""
    return hashlib.sha256(hashlib.sha256(bytes.fromhex(header_hex)).digest()).digest()[::-1].hex()


def test_a_block_by_height_and_by_hash_is_the_same(client, experiment_chain):
    by_height = client.get("/api/blocks/2/").json()
    by_hash = client.get(f"/api/blocks/{by_height['hash'].upper()}/").json()
    assert by_height == by_hash


def test_the_header_hex_is_the_block_and_its_fields(client, experiment_chain):
    block = client.get("/api/blocks/2/").json()
    raw = bytes.fromhex(block["header_hex"])
    assert len(raw) == 80 and block_hash_of(block["header_hex"]) == block["hash"]
    assert int.from_bytes(raw[0:4], "little") == block["version"]
    assert raw[4:36][::-1].hex() == block["previousblockhash"]
    assert raw[36:68].hex() == block["merkleroot"]
    assert int.from_bytes(raw[68:72], "little") == block["time"]
    assert raw[72:76][::-1].hex() == block["bits"]
    assert int.from_bytes(raw[76:80], "little") == block["nonce"]


def test_neighbours_and_confirmations(client, experiment_chain):
    genesis, middle, tip = (client.get(f"/api/blocks/{h}/").json() for h in (0, 2, 3))
    assert genesis["previousblockhash"] is None and genesis["confirmations"] == 4
    assert middle["nextblockhash"] == tip["hash"] and middle["confirmations"] == 2
    assert tip["nextblockhash"] is None and tip["confirmations"] == 1 and tip["stale"] is False


def test_records_are_listed_in_leaf_order_with_their_txids(client, experiment_chain):
    block = client.get("/api/blocks/2/").json()
    assert block["nTx"] == len(block["tx"]) == 5  # coinbase, three updates, the global model
    assert [tx["index"] for tx in block["tx"]] == list(range(5))
    for tx in block["tx"]:
        assert tx["txid"] == hashlib.sha256(rfc8785.dumps(tx["record"])).hexdigest()
    assert block["tx"][0]["record"]["type"] == "coinbase" and block["tx"][0]["record"]["height"] == 2
    assert block["experiment"] == experiment_chain.id and block["round"] == 1


def test_every_block_of_a_sound_chain_is_valid(client, experiment_chain):
    for height in range(4):
        block = client.get(f"/api/blocks/{height}/").json()
        assert block["valid"] is True and block["violation"] is None


def test_blocks_from_the_first_invalid_one_are_invalid(client, invalid_chain):
    assert client.get("/api/blocks/1/").json()["valid"] is True
    for height in (2, 3):
        block = client.get(f"/api/blocks/{height}/").json()
        assert block["valid"] is False
        assert block["violation"]["height"] == 2 and block["violation"]["rule"] == "merkle"


def test_a_tampered_block_shows_before_the_chain_is_rechecked(client, experiment_chain, tamper_record):
    tamper_record(1, 1, samples=999)  # no watcher has run since
    block = client.get("/api/blocks/1/").json()
    assert block["valid"] is False and block["violation"]["rule"] == "merkle"
    page = client.get("/blocks/1/").content.decode()
    assert "invalid" in page and "<strong>merkle</strong>" in page


def test_a_stale_block_is_found_by_hash_only(client, stale_block):
    block = client.get(f"/api/blocks/{stale_block.hash}/").json()
    assert block["stale"] is True and block["confirmations"] == -1 and block["nextblockhash"] is None
    assert block["valid"] is True  # it was a valid block; it lost the race for its height
    assert client.get(f"/api/blocks/{stale_block.height}/").json()["hash"] != stale_block.hash
    page = client.get(f"/blocks/{stale_block.hash}/").content.decode()
    assert "stale" in page and "lost a mining race" in page


def test_the_block_page_shows_header_links_records_and_its_round(client, experiment_chain):
    block = Block.objects.get(status="main", height=2)
    page = client.get("/blocks/2/").content.decode()
    assert block.hash in page and bytes(block.header).hex() in page
    assert f'href="/blocks/{block.prev_hash}/" rel="prev"' in page
    assert 'rel="next"' in page
    assert f'href="/experiments/{experiment_chain.id}/rounds/1/"' in page
    for txid in block.records.values_list("txid", flat=True):
        assert f'href="/tx/{txid}/"' in page
    assert "badge ok" in page
    assert "genesis" in client.get("/blocks/0/").content.decode()
