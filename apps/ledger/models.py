"""The stored chain. `Block.header` (80 bytes) and `Record.body` (canonical JSON) are the source of truth;
every other column is derived from them for display and indexing, and `verify_chain` checks that they agree.
"""

import json

from django.db import models
from django.db.models import Q


class Block(models.Model):
    class Status(models.TextChoices):
        MAIN = "main"
        STALE = "stale"  # not on the main chain: lost a mining race, or its branch has less work than the main one

    height = models.PositiveBigIntegerField(db_index=True)
    hash = models.CharField(max_length=64, unique=True, help_text="SHA-256d of the header, byte-reversed hex")
    header = models.BinaryField(max_length=80)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.MAIN)
    # Derived from the header bytes.
    version = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64, help_text="the parent's hash, byte-reversed hex")
    merkle_root = models.CharField(max_length=64, help_text="RFC 6962 root of the records, hex")
    time = models.PositiveBigIntegerField(help_text="Unix time in the header")
    bits = models.PositiveBigIntegerField(help_text="compact target")
    nonce = models.PositiveBigIntegerField()
    # Derived from the chain up to this block.
    required_bits = models.PositiveBigIntegerField(help_text="the target the retarget rule requires here")
    chainwork = models.CharField(max_length=64, help_text="cumulative work, 64 hex digits")
    # Derived from the coinbase record.
    experiment_id = models.BigIntegerField(null=True, blank=True)
    round_number = models.IntegerField(null=True, blank=True)
    difficulty_bits = models.PositiveSmallIntegerField()
    records_count = models.PositiveIntegerField()
    # How it was mined (not part of the chain).
    mined_seconds = models.FloatField(null=True, blank=True)
    hash_rate = models.FloatField(null=True, blank=True)
    # db_default: rows written by hand (SQL) need not name them.
    mined_by = models.CharField(
        max_length=64, blank=True, default="", db_default="",
        help_text="node id (Ed25519 public key, hex) of the node that mined it, as that node signed; empty if unknown",
    )
    mined_signature = models.CharField(max_length=128, blank=True, default="", db_default="", help_text="that node's signature of the hash, hex")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["height", "id"]
        constraints = [
            # With the unique hash, this makes appending twice at one height impossible.
            models.UniqueConstraint(fields=["height"], condition=Q(status="main"), name="ledger_one_main_block_per_height"),
        ]
        indexes = [
            models.Index(fields=["experiment_id", "height"], name="ledger_block_experiment"),
            # Stale blocks are few among many main ones: listing and counting them must not scan the table.
            models.Index(fields=["status", "height"], name="ledger_block_status"),
        ]

    def __str__(self):
        return f"#{self.height} {self.hash[:16]}"

    @property
    def header_bytes(self) -> bytes:
        return bytes(self.header)

    @property
    def chainwork_int(self) -> int:
        return int(self.chainwork, 16)


class Record(models.Model):
    block = models.ForeignKey(Block, on_delete=models.PROTECT, related_name="records")
    position = models.PositiveIntegerField(help_text="the leaf index in the block's Merkle tree")
    body = models.TextField(help_text="the record in RFC 8785 canonical JSON: its bytes are the Merkle leaf")
    # Derived from the body.
    txid = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the body, hex")
    type = models.CharField(max_length=32)
    experiment_id = models.BigIntegerField(null=True, blank=True)
    round_number = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["block_id", "position"]
        constraints = [models.UniqueConstraint(fields=["block", "position"], name="ledger_record_position")]
        indexes = [models.Index(fields=["experiment_id", "round_number"], name="ledger_record_round")]

    def __str__(self):
        return f"{self.type} {self.txid[:16]}"


class PendingBatch(models.Model):
    """One experiment round's records waiting to be mined (the miner adds the coinbase)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        MINED = "mined"

    experiment_id = models.BigIntegerField()
    round_number = models.IntegerField()
    parent_model = models.CharField(max_length=64, null=True, blank=True)
    difficulty_bits = models.PositiveSmallIntegerField()
    # Text, not a JSONField: PostgreSQL's jsonb would rewrite numbers (1e+21 comes back as an integer) and the
    # records must come back exactly as they were canonicalized.
    body = models.TextField(help_text="the round's records: a JSON array of canonical records, in leaf order after the coinbase")
    mining_reward = models.FloatField(
        null=True, blank=True, help_text="what the block pays the node that mines it (experiments that pay rewards)"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    block = models.ForeignKey(Block, null=True, blank=True, on_delete=models.PROTECT, related_name="batches")
    created_at = models.DateTimeField(auto_now_add=True)
    mined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "pending batches"
        constraints = [
            models.UniqueConstraint(fields=["experiment_id", "round_number"], name="ledger_one_batch_per_round")
        ]

    def __str__(self):
        return f"experiment {self.experiment_id} round {self.round_number} ({self.status})"

    @property
    def records(self) -> list[dict]:
        return json.loads(self.body)


class Checkpoint(models.Model):
    """A block hash at a height, signed with the node key (kept in the key directory, never here): see
    checkpoint.py."""

    height = models.PositiveBigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=128, help_text="Ed25519 signature of checkpoint_message(height, hash), hex")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["height"]

    def __str__(self):
        return f"checkpoint #{self.height} {self.hash[:16]}"


class ChainChange(models.Model):
    """A write to a ledger table, recorded by database triggers (migration 0006), whoever made it: the
    application, a raw SQL session, another program. `watch_chain` reads the new rows every interval and
    re-checks just the blocks they touch, so its cost does not grow with the chain. Old rows are pruned."""

    source = models.CharField(max_length=16, help_text="block, record, checkpoint or batch")
    operation = models.CharField(max_length=8, help_text="INSERT, UPDATE, DELETE or TRUNCATE")
    block_row = models.BigIntegerField(null=True, blank=True, help_text="the ledger_block id concerned, if any")
    height = models.BigIntegerField(null=True, blank=True, help_text="the block or checkpoint height concerned")
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.operation} {self.source} #{self.height if self.height is not None else self.block_row}"
