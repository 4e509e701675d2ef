"""Appending blocks: incremental validation, atomic storage, lost races kept as stale, batches and events."""

import json
from dataclasses import replace

import pytest
from django.db import IntegrityError, connection, transaction

from apps.events.models import Event
from apps.ledger import reads, rules, store, watch
from apps.ledger.header import display_hex
from apps.ledger.models import Block, Checkpoint, PendingBatch, Record
from apps.ledger.pow import bits_to_target, meets_target, search
from apps.ledger.records import canonical_bytes, txid

from .conftest import model_hash, round_records, submit_round

pytestmark = pytest.mark.django_db


def counts():
    return (Block.objects.count(), Record.objects.count(), Checkpoint.objects.count(), Event.objects.count())


def test_a_mined_block_is_stored_with_its_records_checkpoint_and_event():
    store.genesis_ensure()
    batch = submit_round(7, 0, difficulty_bits=12)
    block = store.block_mine(batch=batch)
    assert (block.height, block.status, block.experiment_id, block.round_number) == (1, "main", 7, 0)
    assert meets_target(bytes.fromhex(block.hash)[::-1], bits_to_target(block.bits))
    assert block.bits == 0x1F100000  # 2**244: 12 zero bits: harder than the pow limit's 8
    records = list(block.records.order_by("position"))
    assert [r.type for r in records] == ["coinbase", "experiment", "client_update", "client_update", "global_model", "reward"]
    assert records[0].body.encode() == canonical_bytes(
        {"type": "coinbase", "height": 1, "experiment": 7, "round": 0, "parent_model": None, "difficulty_bits": 12}
    )
    assert all(r.txid == txid(json.loads(r.body)) for r in records)
    batch.refresh_from_db()
    assert (batch.status, batch.block_id) == ("mined", block.id)
    assert Checkpoint.objects.get(height=1).hash == block.hash
    event = Event.objects.filter(type="block").last()
    assert (event.experiment_id, event.payload["hash"], event.payload["nTx"]) == (7, block.hash, 6)
    assert block.mined_seconds > 0 and block.hash_rate > 0
    assert reads.chain_status()["valid"] and watch.chain_verify().valid


def test_an_invalid_block_is_refused_and_nothing_is_stored():
    store.genesis_ensure()
    batch = submit_round(1, 0, difficulty_bits=12)
    header, records = store.block_template(batch=batch)
    mined = search(header).header
    before = counts()
    unmined = replace(mined, nonce=mined.nonce + 1)
    while meets_target(unmined.hash(), bits_to_target(unmined.bits)):
        unmined = replace(unmined, nonce=unmined.nonce + 1)
    with pytest.raises(rules.BlockRejected) as rejected:
        store.block_append(header=unmined, records=records, batch=batch)
    assert (rejected.value.rule, rejected.value.height) == ("pow", 1)
    changed = [*records[:-1], {**records[-1], "amount": 99}]
    with pytest.raises(rules.BlockRejected, match="Merkle root") as rejected:
        store.block_append(header=mined, records=changed, batch=batch)
    with pytest.raises(rules.BlockRejected, match="not a stored block"):
        store.block_append(header=replace(mined, prev_hash=bytes(32)), records=records)
    with pytest.raises(rules.BlockRejected, match="finite"):
        store.block_append(header=mined, records=[*records, {"type": "reward", "amount": float("nan")}])
    assert counts() == before
    assert PendingBatch.objects.get().status == "pending"
    store.block_append(header=mined, records=records, batch=batch)
    with pytest.raises(rules.BlockRejected, match="already stored"):  # appending twice is impossible
        store.block_append(header=mined, records=records, batch=batch)


def test_a_block_that_loses_the_race_for_its_height_is_kept_as_stale():
    store.genesis_ensure()
    first, second = submit_round(1, 0), submit_round(2, 0)
    # Two miners take templates on the same tip at the same time.
    header_a, records_a = store.block_template(batch=first)
    header_b, records_b = store.block_template(batch=second)
    winner = store.block_append(header=search(header_a).header, records=records_a, batch=first)
    loser = store.block_append(header=search(header_b).header, records=records_b, batch=second)
    assert (winner.height, winner.status) == (1, "main")
    assert (loser.height, loser.status) == (1, "stale")
    second.refresh_from_db()
    assert second.status == "pending"  # its round was not mined: it goes into a later block
    assert Event.objects.filter(type="block").last().payload["status"] == "stale"
    again = store.block_mine(batch=second)
    assert (again.height, again.status) == (2, "main")
    assert watch.chain_verify().valid
    assert list(Block.objects.filter(status="main").values_list("height", flat=True)) == [0, 1, 2]


def test_the_database_refuses_a_second_main_block_at_a_height():
    genesis = store.genesis_ensure()
    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.create(**{**{f.attname: getattr(genesis, f.attname) for f in Block._meta.concrete_fields if f.attname != "id"}, "hash": "f" * 64})
    with pytest.raises(IntegrityError), transaction.atomic():
        Record.objects.create(block=genesis, position=0, body="{}", txid="0" * 64, type="coinbase")


def test_mining_follows_round_order_and_returns_none_when_nothing_can_be_mined():
    store.genesis_ensure()
    assert store.block_mine() is None
    submit_round(1, 1)  # round 1 first: it must wait for round 0
    assert store.block_mine() is None
    submit_round(1, 0)
    assert store.block_mine().round_number == 0
    assert store.block_mine().round_number == 1
    assert store.block_mine() is None
    assert watch.chain_verify().valid


def test_mining_reports_progress_and_a_stopped_search_stores_nothing():
    store.genesis_ensure()
    batch = submit_round(1, 0, difficulty_bits=40)
    before = counts()
    progress = []
    assert store.block_mine(batch=batch, should_stop=lambda: bool(progress), on_progress=progress.append) is None
    assert progress[0]["height"] == 1 and progress[0]["nonces"] > 0 and progress[0]["expected"] == 2.0**40
    assert counts() == before
    batch.refresh_from_db()
    assert batch.status == "pending"


def test_a_batch_is_checked_when_submitted():
    store.genesis_ensure()
    good = round_records(1, 0)
    cases = [
        (dict(records=good[1:]), "experiment record"),  # round 0 without its experiment record
        (dict(records=[*good, {**good[1], "round": 5}]), "belongs to experiment 1 round 5"),
        (dict(records=[*good, {"type": "reward", "amount": float("inf")}]), "finite"),
        (dict(records=good, parent_model="ab" * 32), "parent_model must be null"),
        (dict(records=good, difficulty_bits=-1), "difficulty_bits"),
        (dict(records="not a list"), "list"),
    ]
    for overrides, message in cases:
        arguments = dict(experiment_id=1, round_number=0, parent_model=None, difficulty_bits=8, records=good) | overrides
        with pytest.raises(ValueError, match=message):
            store.batch_submit(**arguments)
    assert not PendingBatch.objects.exists()
    submit_round(1, 0)
    with pytest.raises(ValueError, match="already submitted"):
        submit_round(1, 0)
    assert PendingBatch.objects.count() == 1


def test_the_block_template_commits_the_tip_and_the_batch():
    store.genesis_ensure()
    mined = store.block_mine(batch=submit_round(1, 0))
    batch = submit_round(1, 1)
    header, records = store.block_template(batch=batch)
    assert display_hex(header.prev_hash) == mined.hash
    assert records[0] == {
        "type": "coinbase", "height": 2, "experiment": 1, "round": 1, "parent_model": model_hash(1, 0), "difficulty_bits": 8,
    }
    assert records[1:] == batch.records
    assert header.time > mined.time - 1 and header.nonce == 0


@pytest.mark.parametrize(
    "column, value, rule",
    [("chainwork", "not a number", "stored-fields"), ("required_bits", "text", "stored-fields"), ("header", "text", "header")],
)
def test_a_tampered_chain_refuses_new_blocks_instead_of_crashing(chain, column, value, rule):
    with connection.cursor() as cursor:  # SQLite stores whatever type a raw edit gives it
        cursor.execute(f"UPDATE ledger_block SET {column} = %s WHERE height = 8", [value])
    before = counts()
    with pytest.raises(rules.BlockRejected) as rejected:
        store.block_mine(batch=submit_round(1, 8, difficulty_bits=10))
    assert (rejected.value.rule, rejected.value.height) == (rule, 8)
    assert counts() == before
