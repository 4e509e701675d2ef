"""chain_status() is a read: it writes nothing, not even the genesis block, which migrate stores."""

import pytest
from django.core.management import call_command
from django.test.utils import CaptureQueriesContext
from django.db import connection

from apps.ledger import reads, watch
from apps.ledger.models import Block, Checkpoint, PendingBatch, Record

from .conftest import mine_rounds

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def delete_blocks(**filters):
    """Deletes main blocks with their records and checkpoints, as a raw edit of the database could."""
    blocks = Block.objects.filter(status="main", **filters)
    Checkpoint.objects.filter(height__in=blocks.values("height")).delete()
    Record.objects.filter(block__in=blocks).delete()
    blocks.delete()


def status_without_writes():
    with CaptureQueriesContext(connection) as queries:
        status = reads.chain_status()
    writes = [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith(WRITES)]
    assert writes == []
    return status


def test_migrate_stores_the_genesis_block():
    assert Block.objects.filter(status="main", height=0).exists()  # the test database was made by migrate
    delete_blocks()
    call_command("migrate", verbosity=0)
    genesis = Block.objects.get(status="main")
    assert genesis.height == 0 and Checkpoint.objects.filter(height=0, hash=genesis.hash).exists()


def test_chain_status_on_an_empty_database_writes_nothing():
    delete_blocks()
    assert status_without_writes() == {
        "valid": True, "height": None, "tip": None, "chainwork": "0" * 64, "checkpoint": False,
        "first_invalid": None, "checked_at": None,
    }
    assert not Block.objects.exists() and not Checkpoint.objects.exists()


def test_blocks_without_the_genesis_block_are_invalid_and_it_is_not_put_back():
    mine_rounds(1, 2)
    delete_blocks(height=0)
    status = status_without_writes()
    assert (status["valid"], status["height"], status["first_invalid"]["rule"]) == (False, 2, "genesis")
    assert not Block.objects.filter(height=0).exists()


def test_the_first_append_stores_the_genesis_block():
    delete_blocks()
    block = mine_rounds(1, 1)[0]
    assert block.height == 1 and watch.chain_verify().valid


def test_a_chain_with_its_tip_signed_is_valid():
    mine_rounds(1, 2)
    status = status_without_writes()
    assert (status["valid"], status["height"], status["checkpoint"], status["first_invalid"]) == (True, 2, True, None)


def test_a_tip_without_its_checkpoint_is_invalid():
    mine_rounds(1, 2)
    Checkpoint.objects.filter(height=2).delete()
    status = status_without_writes()
    assert (status["valid"], status["checkpoint"], status["first_invalid"]["rule"]) == (False, False, "checkpoint")


def test_blocks_deleted_from_the_top_leave_their_checkpoints_and_the_chain_is_invalid_above_the_tip():
    mine_rounds(1, 3)
    checkpoint = Checkpoint.objects.get(height=3)
    PendingBatch.objects.filter(block__height=3).update(block=None)
    delete_blocks(height=3)
    checkpoint.save()  # the raw edit left the deleted tip's signed checkpoint behind
    status = status_without_writes()
    assert (status["valid"], status["height"], status["checkpoint"]) == (False, 2, True)
    assert (status["first_invalid"]["rule"], status["first_invalid"]["height"]) == ("height", 3)
