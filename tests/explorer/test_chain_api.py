"""/api/chain/: the tip, its work and difficulty, stale blocks, the last checkpoint and the validity report."""

import pytest

from apps.ledger.header import BlockHeader
from apps.ledger.models import Block, Checkpoint

pytestmark = pytest.mark.django_db


def test_an_empty_database_shows_an_empty_chain_and_writes_nothing(client, empty_chain):
    chain = client.get("/api/chain/").json()
    assert chain["blocks"] is None and chain["bestblockhash"] is None
    assert chain["chainwork"] == "0" * 64 and chain["checkpoint"] is None
    assert chain["validity"]["valid"] is True
    assert not Block.objects.exists()  # the explorer never writes, not even the genesis block


def test_the_genesis_block_alone(client, genesis_only):
    chain = client.get("/api/chain/").json()
    assert chain["blocks"] == 0 and chain["bestblockhash"] == genesis_only.hash
    assert chain["difficulty"] == 1.0  # the genesis block is mined at the pow limit
    assert chain["checkpoint"]["height"] == 0 and chain["checkpoint"]["signature_valid"]


def test_a_chain_of_rounds(client, experiment_chain):
    tip = Block.objects.get(status="main", height=3)
    chain = client.get("/api/chain/").json()
    assert chain["blocks"] == 3 and chain["bestblockhash"] == tip.hash
    assert int(chain["chainwork"], 16) == tip.chainwork_int > 0
    assert chain["bits"] == f"{BlockHeader.parse(bytes(tip.header)).bits:08x}"
    assert chain["stale_blocks"] == 0
    assert chain["validity"] == {
        "valid": True,
        "first_invalid": None,
        "checked_at": chain["validity"]["checked_at"],
        "checkpoint": True,
    }
    assert chain["validity"]["checked_at"]
    assert chain["checkpoint"] == {**chain["checkpoint"], "height": 3, "hash": tip.hash, "on_chain": True}


def test_an_invalid_chain_names_the_first_invalid_height_and_rule(client, invalid_chain):
    validity = client.get("/api/chain/").json()["validity"]
    assert validity["valid"] is False
    assert validity["first_invalid"]["height"] == 2
    assert validity["first_invalid"]["rule"] == "merkle"


def test_a_forged_checkpoint_shows(client, experiment_chain):
    Checkpoint.objects.filter(height=3).update(signature="00" * 32)
    chain = client.get("/api/chain/").json()
    assert chain["checkpoint"]["signature_valid"] is False
    assert chain["validity"]["valid"] is False and chain["validity"]["first_invalid"]["rule"] == "checkpoint"


def test_stale_blocks_are_counted(client, stale_block):
    assert client.get("/api/chain/").json()["stale_blocks"] == 1


def test_a_deleted_genesis_block_is_reported_not_recreated(client, experiment_chain):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_record WHERE block_id IN (SELECT id FROM ledger_block WHERE height = 0)")
        cursor.execute("DELETE FROM ledger_block WHERE height = 0")
    validity = client.get("/api/chain/").json()["validity"]
    assert validity["valid"] is False and validity["first_invalid"]["rule"] == "genesis"
    assert client.get("/api/blocks/1/").json()["valid"] is False
    assert not Block.objects.filter(height=0).exists()
