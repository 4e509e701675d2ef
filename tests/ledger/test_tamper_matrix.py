"""The tamper matrix: every chain rule broken through the ORM and through raw SQL, and `verify_chain`
naming the right height and rule each time.

Where an edit would first break the stored hash, the tamperer also fixes it and re-mines the block, as someone
who can write the database would; the last scenarios re-mine the whole tail, which only the signed checkpoints
can expose.
"""

import hashlib
import json
import time
from dataclasses import replace

import pytest
from django.db import connection

from apps.ledger import reads, store
from apps.ledger.header import BlockHeader, display_hex
from apps.ledger.merkle import merkle_root
from apps.ledger.models import Block, Checkpoint, PendingBatch, Record
from apps.ledger.pow import bits_to_target, meets_target, search
from apps.ledger.records import canonical_bytes
from apps.ledger.rules import RULES

from .conftest import round_records, verify_chain_json

H = 4  # the block tampered with, in a chain of heights 0..8


class OrmWriter:
    def update_block(self, height, **fields):
        assert Block.objects.filter(status="main", height=height).update(**fields) == 1

    def update_record(self, height, position, **fields):
        assert Record.objects.filter(block__status="main", block__height=height, position=position).update(**fields) == 1

    def insert_block(self, **fields):
        return Block.objects.create(**fields).id

    def insert_record(self, block, **fields):
        Record.objects.create(block_id=block if isinstance(block, int) else block.id, **fields)

    def delete_block(self, height):
        block = Block.objects.get(status="main", height=height)
        PendingBatch.objects.filter(block=block).update(block=None)
        Record.objects.filter(block=block).delete()
        Checkpoint.objects.filter(height=height).delete()
        block.delete()

    def update_checkpoint(self, height, **fields):
        assert Checkpoint.objects.filter(height=height).update(**fields) == 1

    def delete_checkpoint(self, height):
        assert Checkpoint.objects.filter(height=height).delete()[0] == 1

    def swap_heights(self, a, b):
        first, second = (Block.objects.get(status="main", height=h) for h in (a, b))
        Block.objects.filter(pk=first.pk).update(height=10**9)
        Block.objects.filter(pk=second.pk).update(height=a)
        Block.objects.filter(pk=first.pk).update(height=b)


class SqlWriter:
    """The same edits in plain SQL, bypassing every model method."""

    block, record, checkpoint = Block._meta.db_table, Record._meta.db_table, Checkpoint._meta.db_table

    def execute(self, sql, params=()):
        """Runs one statement; returns (rows changed, id of an inserted row, first row fetched)."""
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount, cursor.lastrowid, cursor.fetchone() if sql.startswith("SELECT") else None

    def _block_id(self, height):
        return self.execute(f"SELECT id FROM {self.block} WHERE status = 'main' AND height = %s", [height])[2][0]

    def update_block(self, height, **fields):
        assignments = ", ".join(f"{name} = %s" for name in fields)
        changed, _, _ = self.execute(
            f"UPDATE {self.block} SET {assignments} WHERE status = 'main' AND height = %s", [*fields.values(), height]
        )
        assert changed == 1

    def update_record(self, height, position, **fields):
        assignments = ", ".join(f"{name} = %s" for name in fields)
        changed, _, _ = self.execute(
            f"UPDATE {self.record} SET {assignments} WHERE block_id = %s AND position = %s",
            [*fields.values(), self._block_id(height), position],
        )
        assert changed == 1

    def _insert(self, table, fields):
        names = ", ".join(fields)
        marks = ", ".join(["%s"] * len(fields))
        return self.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(fields.values()))[1]

    def insert_block(self, **fields):
        return self._insert(self.block, {**fields, "created_at": "2026-01-01 00:00:00"})

    def insert_record(self, block=None, **fields):
        self._insert(self.record, {"block_id": block if isinstance(block, int) else block.id, **fields})

    def delete_block(self, height):
        block_id = self._block_id(height)
        self.execute(f"UPDATE {PendingBatch._meta.db_table} SET block_id = NULL WHERE block_id = %s", [block_id])
        self.execute(f"DELETE FROM {self.record} WHERE block_id = %s", [block_id])
        self.execute(f"DELETE FROM {self.checkpoint} WHERE height = %s", [height])
        self.execute(f"DELETE FROM {self.block} WHERE id = %s", [block_id])

    def update_checkpoint(self, height, **fields):
        assignments = ", ".join(f"{name} = %s" for name in fields)
        assert self.execute(f"UPDATE {self.checkpoint} SET {assignments} WHERE height = %s", [*fields.values(), height])[0] == 1

    def delete_checkpoint(self, height):
        assert self.execute(f"DELETE FROM {self.checkpoint} WHERE height = %s", [height])[0] == 1

    def swap_heights(self, a, b):
        first, second = self._block_id(a), self._block_id(b)
        self.execute(f"UPDATE {self.block} SET height = %s WHERE id = %s", [10**9, first])
        self.execute(f"UPDATE {self.block} SET height = %s WHERE id = %s", [a, second])
        self.execute(f"UPDATE {self.block} SET height = %s WHERE id = %s", [b, first])


# --- what a tamperer does ----------------------------------------------------------------------------------


def stored(height):
    block = Block.objects.get(status="main", height=height)
    bodies = list(block.records.order_by("position").values_list("body", flat=True))
    return block, BlockHeader.parse(bytes(block.header)), bodies


def rewrite(writer, height, header, bodies=None, *, mine=True):
    """Stores a changed header (re-mined unless mine=False) with every column derived from it, and changed
    record bodies with their txids: a consistent forgery, so only the rule under test can catch it."""
    if bodies is not None:
        header = replace(header, merkle_root=merkle_root([body.encode() for body in bodies]))
        for position, body in enumerate(bodies):
            writer.update_record(height, position, body=body, txid=hashlib.sha256(body.encode()).hexdigest())
    if mine:
        header = search(replace(header, nonce=0)).header
    writer.update_block(
        height,
        header=header.serialize(),
        hash=header.hash_hex(),
        prev_hash=display_hex(header.prev_hash),
        merkle_root=header.merkle_root.hex(),
        time=header.time,
        bits=header.bits,
        nonce=header.nonce,
    )
    return header


def canonical(record):
    return canonical_bytes(record).decode()


def edit_body(bodies, position, change):
    record = json.loads(bodies[position])
    change(record)
    return [*bodies[:position], canonical(record), *bodies[position + 1 :]]


def lower_a_metric(record):
    record["metrics"]["loss"] = 0.01


# --- the scenarios: (name, tamper(writer), expected height, expected rule) ---------------------------------


def edit_metric(writer):
    _, _, bodies = stored(H)
    writer.update_record(H, 2, body=edit_body(bodies, 2, lower_a_metric)[2])


def edit_metric_and_txid(writer):
    _, _, bodies = stored(H)
    body = edit_body(bodies, 2, lower_a_metric)[2]
    writer.update_record(H, 2, body=body, txid=hashlib.sha256(body.encode()).hexdigest())


def edit_nonce_bytes(writer):
    _, header, _ = stored(H)
    writer.update_block(H, header=replace(header, nonce=header.nonce + 1).serialize())


def edit_nonce_and_hash(writer):
    _, header, _ = stored(H)
    target = bits_to_target(header.bits)
    nonce = next(n for n in range(header.nonce + 1, 2**32) if not meets_target(replace(header, nonce=n).hash(), target))
    rewrite(writer, H, replace(header, nonce=nonce), mine=False)


def edit_merkle_root(writer):
    _, header, _ = stored(H)
    rewrite(writer, H, replace(header, merkle_root=hashlib.sha256(b"another root").digest()))


def edit_prev_hash(writer):
    _, header, _ = stored(H)
    rewrite(writer, H, replace(header, prev_hash=stored(H - 2)[1].hash()))


def time_at_median(writer):
    _, header, _ = stored(H)
    times = sorted(stored(h)[1].time for h in range(max(0, H - 11), H))
    rewrite(writer, H, replace(header, time=times[len(times) // 2]))


def time_in_future(writer):
    _, header, _ = stored(H)
    rewrite(writer, H, replace(header, time=int(time.time()) + 3 * 3600))


def easier_bits(writer):
    _, header, _ = stored(H)
    rewrite(writer, H, replace(header, bits=reads.chain_params().pow_limit_compact))


def truncate_header(writer):
    _, header, _ = stored(H)
    writer.update_block(H, header=header.serialize()[:79])


def wrong_coinbase_height(writer):
    _, header, bodies = stored(H)
    rewrite(writer, H, header, edit_body(bodies, 0, lambda r: r.update(height=H + 1)))


def duplicate_record(writer):
    _, header, bodies = stored(H)
    rewrite(writer, H, header, [*bodies[:3], bodies[2], *bodies[4:]])


def non_canonical_record(writer):
    _, header, bodies = stored(H)
    rewrite(writer, H, header, [*bodies[:2], json.dumps(json.loads(bodies[2]), indent=1), *bodies[3:]])


def wrong_parent_model(writer):
    _, header, bodies = stored(H)
    rewrite(writer, H, header, edit_body(bodies, 0, lambda r: r.update(parent_model="00" * 32)))


def remine_genesis(writer):
    _, header, _ = stored(0)
    rewrite(writer, 0, replace(header, time=header.time + 1))


def delete_block(writer):
    writer.delete_block(H)


def mark_stale(writer):
    writer.update_block(H, status="stale")


def insert_record(writer):
    block, _, bodies = stored(H)
    body = canonical({"type": "reward", "experiment": 1, "round": H - 1, "client": "mallory", "amount": 1000})
    writer.insert_record(
        block=block, position=len(bodies), body=body, txid=hashlib.sha256(body.encode()).hexdigest(), type="reward",
        experiment_id=1, round_number=H - 1,
    )


def insert_forged_block(writer):
    """A block mined on the tip by the database writer, perfect in every way but unsigned."""
    tip, tip_header, _ = stored(8)
    batch = store.batch_submit(
        experiment_id=1, round_number=8, parent_model=json.loads(stored(8)[2][-2])["model"], difficulty_bits=10,
        records=round_records(1, 8),
    )
    header, records = store.block_template(batch=batch)
    header = search(header).header
    checked = store.block_check(header=header, records=records)
    columns = checked.columns()
    block_id = writer.insert_block(
        height=9, hash=columns["hash"], header=header.serialize(), status="main", version=1,
        prev_hash=columns["prev_hash"], merkle_root=columns["merkle_root"], time=header.time, bits=header.bits,
        nonce=header.nonce, required_bits=checked.required_bits, chainwork=f"{checked.chainwork:064x}",
        experiment_id=1, round_number=8, difficulty_bits=10, records_count=len(records),
    )
    for position, (record, (txid, kind, experiment, round_number)) in enumerate(zip(records, columns["record_columns"])):
        writer.insert_record(
            block=block_id, position=position, body=canonical(record), txid=txid, type=kind,
            experiment_id=experiment, round_number=round_number,
        )


def swap_blocks(writer):
    writer.swap_heights(H, H + 1)


def edit_column_nonce(writer):
    writer.update_block(H, nonce=12345)


def edit_column_txid(writer):
    writer.update_record(H, 1, txid="ab" * 32)


def forge_checkpoint(writer):
    writer.update_checkpoint(H, signature="00" * 32)


def drop_checkpoint(writer):
    writer.delete_checkpoint(H)


def remine_tail_after_edit(writer):
    """Edit a metric, then re-mine that block and every block after it so all links and work hold."""
    _, header, bodies = stored(H)
    new = rewrite(writer, H, header, edit_body(bodies, 2, lower_a_metric))
    for height in range(H + 1, 9):
        _, header, _ = stored(height)
        new = rewrite(writer, height, replace(header, prev_hash=new.hash()))


def remine_tail_with_new_times(writer):
    """The same forgery, re-timed: every header of the tail changes."""
    _, header, bodies = stored(H)
    new = rewrite(writer, H, replace(header, time=header.time + 1), edit_body(bodies, 1, lower_a_metric))
    for height in range(H + 1, 9):
        _, header, _ = stored(height)
        new = rewrite(writer, height, replace(header, prev_hash=new.hash(), time=header.time + 1))


SCENARIOS = [
    (edit_metric, H, "merkle"),
    (edit_metric_and_txid, H, "merkle"),
    (insert_record, H, "merkle"),
    (edit_merkle_root, H, "merkle"),
    (edit_nonce_bytes, H, "hash"),
    (edit_nonce_and_hash, H, "pow"),
    (edit_prev_hash, H, "link"),
    (swap_blocks, H, "link"),
    (time_at_median, H, "time"),
    (time_in_future, H, "time"),
    (easier_bits, H, "difficulty"),
    (truncate_header, H, "header"),
    (wrong_coinbase_height, H, "coinbase"),
    (duplicate_record, H, "records"),
    (non_canonical_record, H, "records"),
    (wrong_parent_model, H, "fl-continuity"),
    (remine_genesis, 0, "genesis"),
    (delete_block, H, "height"),
    (mark_stale, H, "height"),
    (edit_column_nonce, H, "stored-fields"),
    (edit_column_txid, H, "stored-fields"),
    (forge_checkpoint, H, "checkpoint"),
    (drop_checkpoint, H, "checkpoint"),
    (insert_forged_block, 9, "checkpoint"),
    (remine_tail_after_edit, H, "checkpoint"),
    (remine_tail_with_new_times, H, "checkpoint"),
]


def test_every_rule_has_a_scenario():
    assert {rule for _, _, rule in SCENARIOS} == set(RULES)


@pytest.mark.django_db
@pytest.mark.parametrize("writer", [OrmWriter(), SqlWriter()], ids=["orm", "sql"])
@pytest.mark.parametrize("tamper, height, rule", SCENARIOS, ids=[s[0].__name__ for s in SCENARIOS])
def test_verify_chain_names_the_height_and_rule(chain, writer, tamper, height, rule):
    assert verify_chain_json()["valid"]
    tamper(writer)
    report = verify_chain_json()
    assert not report["valid"]
    assert (report["first_invalid"]["height"], report["first_invalid"]["rule"]) == (height, rule), report
    assert report["last_valid_height"] == height - 1  # the valid prefix ends just before it
    assert report["untrusted_from_height"] == height
