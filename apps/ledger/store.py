"""Writes to the stored chain: the genesis block, checkpoints, pending batches, and blocks (templates to mine,
mining, appending). Each under transaction.atomic; the rules are the pure modules' (rules.py and friends), run
on the bytes that are stored.
"""

import time
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.db import rows_insert
from apps.core.keys import node_id, node_key
from apps.events.models import Event
from apps.events.services import event_emit

from .checkpoint import checkpoint_signature
from .genesis import BLOCK_VERSION, genesis_block
from .header import BlockHeader, display_hex, sha256d
from .merkle import merkle_root
from .miner import mined_claim
from .models import Block, Checkpoint, PendingBatch, Record
from .pow import search
from .reads import (
    MAIN,
    batch_next,
    block_payload,
    chain_params,
    chain_rules,
    experiment_lookup,
    parse_chainwork,
    records_encode,
    stored_bytes,
    tip_summary,
)
from .records import MINING_REWARD, canonical_bytes, coinbase_record, reward_record
from .retarget import block_bits, median_time_past, required_bits
from .rules import BlockData, BlockRejected, ChainTip, CheckedBlock


def main_tip() -> Block:
    """The highest block of the main chain (the genesis block on a new install)."""
    return Block.objects.filter(status=MAIN).order_by("-height").first() or genesis_ensure()


def genesis_ensure() -> Block:
    """The genesis block, stored on first use (same bytes on every install with the same chain parameters)."""
    existing = Block.objects.filter(status=MAIN, height=0).first()
    if existing is not None:
        return existing
    genesis = genesis_block(chain_params())
    checked = chain_rules().check(BlockData(0, genesis.header_bytes, genesis.record_bytes), None, lambda _: None)
    try:
        with transaction.atomic():
            block = block_store_checked(checked, status=MAIN)
            checkpoint_sign(block=block)
    except IntegrityError:  # another process stored it first
        return Block.objects.get(status=MAIN, height=0)
    return block


def checkpoint_sign(*, block: Block | None = None) -> Checkpoint:
    """Signs the hash of `block` (default: the main tip) at its height with the node key."""
    if block is None:
        block = main_tip()
    return _checkpoints_upsert([block])[0]


def _checkpoints_upsert(blocks: list[Block]) -> list[Checkpoint]:
    """Signs each block at its height, replacing the checkpoint stored there."""
    key = node_key()
    return Checkpoint.objects.bulk_create(
        [Checkpoint(height=b.height, hash=b.hash, signature=checkpoint_signature(key, b.height, b.hash)) for b in blocks],
        update_conflicts=True,
        unique_fields=["height"],
        update_fields=["hash", "signature"],
    )


def batch_submit(
    *, experiment_id, round_number, parent_model, difficulty_bits, records: list[dict], mining_reward=None
) -> PendingBatch:
    """Queues one experiment round's records to be mined (the miner adds the coinbase, and a reward record
    paying itself `mining_reward` when that is given). Call it inside the transaction that records the round.
    Raises ValueError, naming what is wrong, for records that could never make a valid block; a round can be
    submitted once."""
    if mining_reward is not None:
        # Refused now, not when mined: checked as the record it will become (any node id as the recipient).
        reward_record(experiment_id=experiment_id, round_number=round_number, client="0" * 64, amount=mining_reward)
    if not isinstance(records, list):
        raise ValueError("records must be a list of record objects")
    coinbase = coinbase_record(
        height=1,  # any height: only the records' own consistency is checked here
        experiment_id=experiment_id,
        round_number=round_number,
        parent_model=parent_model,
        difficulty_bits=difficulty_bits,
    )
    record_bytes = [canonical_bytes(coinbase)]
    for position, record in enumerate(records, start=1):
        try:
            record_bytes.append(canonical_bytes(record))
        except ValueError as error:
            raise ValueError(f"record {position}: {error}") from None
    previous = None if round_number == 0 else (round_number - 1, parent_model)
    try:
        chain_rules().check_round_contents(record_bytes, height=1, previous=previous, canonical=True)
    except BlockRejected as rejected:
        raise ValueError(f"these records cannot make a valid block ({rejected.rule}): {rejected.message}") from None
    try:
        with transaction.atomic():
            return PendingBatch.objects.create(
                experiment_id=experiment_id,
                round_number=round_number,
                parent_model=parent_model,
                difficulty_bits=difficulty_bits,
                body="[" + ",".join(data.decode() for data in record_bytes[1:]) + "]",
                mining_reward=mining_reward,
            )
    except IntegrityError:
        raise ValueError(f"experiment {experiment_id} round {round_number} was already submitted") from None


def batches_mined(block: Block):
    PendingBatch.objects.filter(
        experiment_id=block.experiment_id, round_number=block.round_number, status=PendingBatch.Status.PENDING
    ).update(status=PendingBatch.Status.MINED, block=block, mined_at=timezone.now())


def block_template(*, batch: PendingBatch) -> tuple[BlockHeader, list[dict]]:
    """The header (nonce 0, not yet mined) and records of the block that would put `batch` on the main tip."""
    header, records, _, _ = _candidate(batch)
    return header, records


def _candidate(batch: PendingBatch) -> tuple[BlockHeader, list[dict], list[bytes], ChainTip]:
    """The template with its records' canonical bytes, encoded once for the Merkle root, the check and the store
    (the batch's records are encoded afresh, never taken as canonical from the stored batch), and the summary of
    the tip it extends."""
    params = chain_params()
    tip = main_tip()
    height = tip.height + 1
    summary = tip_summary(tip)
    coinbase = coinbase_record(
        height=height,
        experiment_id=batch.experiment_id,
        round_number=batch.round_number,
        parent_model=batch.parent_model,
        difficulty_bits=batch.difficulty_bits,
    )
    records = [coinbase, *batch.records]
    if batch.mining_reward is not None:
        # The one record that names who did the work: the node mining this block pays itself, by its key id.
        records.append(reward_record(
            experiment_id=batch.experiment_id, round_number=batch.round_number, client=node_id(),
            amount=batch.mining_reward, kind=MINING_REWARD,
        ))
    record_bytes = records_encode(records)
    required = required_bits(height=height, parent_required_bits=tip.required_bits, recent_times=summary.times, params=params)
    header = BlockHeader(
        version=BLOCK_VERSION,
        prev_hash=summary.digest,
        merkle_root=merkle_root(record_bytes),
        time=max(int(time.time()), median_time_past(summary.times, params.median_time_span) + 1),
        bits=block_bits(required=required, difficulty_bits=batch.difficulty_bits),
        nonce=0,
    )
    return header, records, record_bytes, summary


def block_check(*, header: BlockHeader, records: list[dict]) -> CheckedBlock:
    """Checks a block against the stored block it extends (incrementally: a fixed number of queries)."""
    return _check(header, records_encode(records))


def _check(header: BlockHeader, record_bytes: list[bytes], *, parent_summary: ChainTip | None = None) -> CheckedBlock:
    """The rules on canonical record bytes; the CheckedBlock carries those bytes, which are what gets stored.
    `parent_summary`: the parent's tip_summary as read before mining, used when the parent row still gives the
    same one (its times are its ancestors', fixed by its hash while it stays on the main chain)."""
    parent = Block.objects.filter(hash=display_hex(header.prev_hash)).first()
    if parent is None or parent.status != MAIN:
        state = "a stale block" if parent is not None else "not a stored block"
        raise BlockRejected("link", f"the parent {display_hex(header.prev_hash)} is {state}")
    height = parent.height + 1
    block = BlockData(height, header.serialize(), record_bytes, canonical=True)
    if parent_summary is None or not _summarises(parent_summary, parent):
        parent_summary = tip_summary(parent)
    return chain_rules().check(block, parent_summary, experiment_lookup(height))


def _summarises(summary: ChainTip, block: Block) -> bool:
    return (summary.height, summary.digest, summary.required_bits, summary.chainwork) == (
        block.height, sha256d(stored_bytes(block.header)), block.required_bits, parse_chainwork(block.chainwork)
    )


def block_append(
    *, header: BlockHeader, records: list[dict], batch: PendingBatch | None = None, mined_seconds=None, hash_rate=None
) -> Block:
    """Validates a mined block against its parent and stores it, with its records, a signed checkpoint and a
    `block` event, in one transaction: the bytes checked are the bytes stored. A block for a height the main chain
    already has (a lost race) is kept as stale. Raises BlockRejected, storing nothing, for an invalid block."""
    genesis_ensure()  # the parent of the first block
    with transaction.atomic():
        return _append(_check(header, records_encode(records)), batch=batch, mined_seconds=mined_seconds, hash_rate=hash_rate)


def _append(checked: CheckedBlock, *, batch, mined_seconds, hash_rate) -> Block:
    """Stores a block just checked on the main tip, or as stale when its height was taken meanwhile, with its
    checkpoint and `block` event. Call it inside the transaction that checked it."""
    if batch is not None and (batch.experiment_id, batch.round_number) != (checked.experiment_id, checked.round_number):
        raise BlockRejected(
            "coinbase", f"the block is experiment {checked.experiment_id} round {checked.round_number}, not the batch's"
        )
    mined_by, mined_signature = mined_claim(checked.hash_hex)
    mined = dict(mined_seconds=mined_seconds, hash_rate=hash_rate, mined_by=mined_by, mined_signature=mined_signature)
    try:
        # Only the block's row in the savepoint: SQLite journals every page a savepoint's statements touch, which
        # made the records' insert (and its change-log triggers) cost several times more inside it.
        with transaction.atomic():
            block = _block_row(checked, status=MAIN, **mined)
            block.save()
    except IntegrityError:  # the height is taken (this block lost the race), or the block is stored already
        if Block.objects.filter(hash=checked.hash_hex).exists():
            raise BlockRejected("height", f"block {checked.hash_hex} is already stored", checked.height) from None
        block = _block_row(checked, status=Block.Status.STALE, **mined)
        block.save()
    _records_insert(block, checked)
    if block.status == MAIN:
        batches_mined(block)
        checkpoint_sign(block=block)
    event_emit(type=Event.Type.BLOCK, payload=block_payload(block), experiment_id=block.experiment_id)
    return block


def _block_row(
    checked: CheckedBlock, *, status, mined_seconds=None, hash_rate=None, mined_by="", mined_signature=""
) -> Block:
    """The (unsaved) row of a checked block: its header bytes and every column derived from them."""
    columns = checked.columns()
    return Block(
        height=checked.height,
        hash=columns["hash"],
        header=checked.header.serialize(),
        status=status,
        version=columns["version"],
        prev_hash=columns["prev_hash"],
        merkle_root=columns["merkle_root"],
        time=columns["time"],
        bits=columns["bits"],
        nonce=columns["nonce"],
        required_bits=columns["required_bits"],
        chainwork=f"{checked.chainwork:064x}",
        experiment_id=checked.experiment_id,
        round_number=checked.round_number,
        difficulty_bits=checked.difficulty_bits,
        records_count=columns["records_count"],
        mined_seconds=mined_seconds,
        hash_rate=hash_rate,
        mined_by=mined_by,
        mined_signature=mined_signature,
    )


_RECORD_FIELDS = ["block", "position", "body", "txid", "type", "experiment_id", "round_number"]


def _record_rows(block: Block, checked: CheckedBlock) -> list[tuple]:
    """The block's Record rows, as values of _RECORD_FIELDS."""
    return [
        (block.pk, position, data.decode(), txid, kind, experiment_id, round_number)
        for position, (data, (txid, kind, experiment_id, round_number)) in enumerate(
            zip(checked.record_bytes, checked.columns()["record_columns"])
        )
    ]


def _records_insert(block: Block, checked: CheckedBlock) -> None:
    rows_insert(Record, _RECORD_FIELDS, _record_rows(block, checked))


def block_store_checked(checked: CheckedBlock, *, status, **mined) -> Block:
    """Stores a block the rule engine has checked, with its records (the bytes it checked), as `status`; no
    checkpoint, no event: the callers (genesis, append, import, receive) add what they need in their
    transaction. `mined`: how and by whom it was mined (mined_seconds, hash_rate, mined_by, mined_signature)."""
    block = _block_row(checked, status=status, **mined)
    block.save()
    _records_insert(block, checked)
    return block


def blocks_store_checked(blocks: list[CheckedBlock]) -> list[Block]:
    """Stores, in bulk, blocks that the rule engine has just checked one after the other on top of the main
    tip, each with its signed checkpoint and without events: how synthetic chains for benchmarks are written
    (see synthetic.py). Anything else appends with block_append."""
    if not blocks:
        return []
    tip = main_tip()
    first = blocks[0]
    if (first.height, display_hex(first.header.prev_hash)) != (tip.height + 1, tip.hash):
        raise ValueError(f"the blocks do not start on the main tip (height {tip.height}, {tip.hash})")
    with transaction.atomic():
        rows = Block.objects.bulk_create([_block_row(checked, status=MAIN) for checked in blocks])
        rows_insert(
            Record,
            _RECORD_FIELDS,
            (record for row, checked in zip(rows, blocks) for record in _record_rows(row, checked)),
        )
        _checkpoints_upsert(rows)
    return rows


def block_mine(
    *,
    batch: PendingBatch | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> Block | None:
    """Mines `batch` (default: the next minable one) on the main tip in this process and appends the block.

    Returns None when stopped, when nothing is pending, or when another miner put the round on the chain
    first. on_progress gets {nonces, hash_rate, expected, time, height} about twice a second.
    """
    if batch is None:
        batch = batch_next()
        if batch is None:
            return None
    else:
        batch.refresh_from_db(fields=["status"])  # the rest of a batch never changes
        if batch.status != PendingBatch.Status.PENDING:
            return None
    header, records, record_bytes, summary = _candidate(batch)
    height = records[0]["height"]

    def progress(report):
        on_progress({**report, "height": height})

    result = search(header, should_stop=should_stop, on_progress=progress if on_progress else None)
    if result.header is None:
        return None
    try:
        with transaction.atomic():
            checked = _check(result.header, record_bytes, parent_summary=summary)
            return _append(checked, batch=batch, mined_seconds=result.seconds, hash_rate=result.hash_rate)
    except BlockRejected as rejected:
        batch.refresh_from_db()
        if rejected.rule == "fl-continuity" and batch.status == PendingBatch.Status.MINED:
            return None  # another miner's block for this round won while we searched
        raise
