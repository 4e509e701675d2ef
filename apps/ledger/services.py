"""Ledger services: what other apps call to put rounds on the chain, mine them, and check the chain.

Writes that span models happen here under transaction.atomic; the rules themselves live in the pure modules
(rules.py and friends) and run on the stored bytes.
"""

import json
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.db import rows_insert
from apps.core.keys import node_id, node_key, node_public_key
from apps.events.models import Event
from apps.events.services import event_emit

from .checkpoint import checkpoint_signature, checkpoint_valid
from .genesis import BLOCK_VERSION, genesis_block
from .header import BlockHeader, display_hex, parse_display_hex, sha256d
from .merkle import merkle_root
from .models import Block, Checkpoint, PendingBatch, Record
from .params import ChainParams
from .pow import search
from .records import GLOBAL_MODEL, MINING_REWARD, canonical_bytes, coinbase_record, reward_record
from .retarget import block_bits, median_time_past, required_bits
from .rules import BlockData, BlockRejected, ChainReport, ChainTip, ChainWalker, CheckedBlock, Rules, verify_blocks

__all__ = [
    "BlockRejected",
    "ChainWatcher",
    "batch_next",
    "batch_submit",
    "block_append",
    "block_check",
    "block_mine",
    "block_payload",
    "block_template",
    "blocks_store_checked",
    "chain_export",
    "chain_import",
    "chain_params",
    "chain_status",
    "chain_status_payload",
    "chain_verify",
    "checkpoint_sign",
    "checkpoint_verify",
    "genesis_ensure",
    "main_tip",
]

MAIN = Block.Status.MAIN
_CHUNK = 500  # blocks read per query when walking the stored chain


def chain_params() -> ChainParams:
    return ChainParams(
        pow_limit_bits=settings.FEDCHAIN_POW_LIMIT_BITS,
        retarget_interval=settings.FEDCHAIN_RETARGET_INTERVAL,
        target_spacing=settings.FEDCHAIN_TARGET_SPACING,
        max_block_records=settings.FEDCHAIN_MAX_BLOCK_RECORDS,
        max_record_bytes=settings.FEDCHAIN_MAX_RECORD_BYTES,
    )


def _rules(*, checkpoints: bool = False) -> Rules:
    public_key = node_public_key()

    def check(height, hash_hex, signature):
        return checkpoint_valid(public_key, height, hash_hex, signature)

    return Rules(chain_params(), now=int(time.time()), checkpoint_check=check if checkpoints else None)


# --- reading the stored chain ------------------------------------------------------------------------------


def _as_bytes(value) -> bytes:
    """Column bytes as stored; SQLite lets a raw edit put text where bytes belong, which must fail the checks,
    not crash them."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


def main_tip() -> Block:
    """The highest block of the main chain (the genesis block on a new install)."""
    return Block.objects.filter(status=MAIN).order_by("-height").first() or genesis_ensure()


def _tip_summary(block: Block) -> ChainTip:
    """The rule engine's summary of the chain up to `block`, from a fixed number of rows (no chain walk).
    Times come from the stored header bytes; the derived columns it trusts (required bits, chainwork) are
    the ones verify_chain checks against the bytes."""
    window = chain_params().time_window
    rows = Block.objects.filter(status=MAIN, height__lte=block.height, height__gt=block.height - window)
    times = []
    for height, raw in rows.order_by("height").values_list("height", "header"):
        try:
            times.append(BlockHeader.parse(_as_bytes(raw)).time)
        except ValueError as error:
            raise BlockRejected("header", f"stored block {height}: {error}", height) from None
    chainwork = _parse_chainwork(block.chainwork)
    if not isinstance(chainwork, int) or not isinstance(block.required_bits, int):
        raise BlockRejected("stored-fields", "the stored chainwork or required bits are not numbers", block.height)
    return ChainTip(
        height=block.height,
        digest=sha256d(_as_bytes(block.header)),
        required_bits=block.required_bits,
        chainwork=chainwork,
        times=tuple(times),
    )


def _round_model(block: Block) -> str | None:
    body = Record.objects.filter(block=block, type=GLOBAL_MODEL).values_list("body", flat=True).first()
    try:
        return json.loads(body)["model"]
    except (TypeError, ValueError, KeyError):
        return None  # no readable global model: the next round's parent_model cannot match it


def _experiment_lookup(before_height: int) -> Callable[[int], tuple[int, str] | None]:
    """(last round, its global model) of an experiment on the main chain below `before_height`."""

    def lookup(experiment_id):
        block = (
            Block.objects.filter(status=MAIN, experiment_id=experiment_id, height__lt=before_height)
            .order_by("-height")
            .first()
        )
        return None if block is None else (block.round_number, _round_model(block))

    return lookup


def _experiments_before(height: int) -> dict:
    """Every experiment's last round below `height`: the walker's state when verification starts there."""
    last = (
        Block.objects.filter(status=MAIN, height__lt=height, experiment_id__isnull=False)
        .values("experiment_id")
        .annotate(height=Max("height"))
    )
    blocks = Block.objects.filter(status=MAIN, height__in=[row["height"] for row in last])
    return {block.experiment_id: (block.round_number, _round_model(block)) for block in blocks}


def _parse_chainwork(value):
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        return value  # fails the stored-fields comparison with a message naming it


# The stored columns the checks read: the bytes and every value derived from them.
_BLOCK_COLUMNS = [field.attname for field in Block._meta.concrete_fields if field.attname not in ("created_at",)]
_RECORD_COLUMNS = ["block_id", "position", "body", "txid", "type", "experiment_id", "round_number"]


def _stored_block_data(block: dict, records: list[tuple], checkpoint: tuple | None) -> BlockData:
    """A stored block (its column values, its record rows without block_id) as the rule engine sees it."""
    return BlockData(
        height=block["height"],
        header=_as_bytes(block["header"]),
        records=[_as_bytes(body) for _, body, *_ in records],
        hash_hex=block["hash"],
        stored={
            "prev_hash": block["prev_hash"],
            "merkle_root": block["merkle_root"],
            "version": block["version"],
            "time": block["time"],
            "bits": block["bits"],
            "nonce": block["nonce"],
            "required_bits": block["required_bits"],
            "chainwork": _parse_chainwork(block["chainwork"]),
            "records_count": block["records_count"],
            "experiment_id": block["experiment_id"],
            "round_number": block["round_number"],
            "difficulty_bits": block["difficulty_bits"],
            "record_columns": [list(columns) for _, _, *columns in records],
        },
        checkpoint=checkpoint,
    )


def _group_records(rows) -> dict:
    records = {}
    for block_id, *fields in rows:
        records.setdefault(block_id, []).append(tuple(fields))
    return records


def _checkpoints(**filters) -> dict:
    rows = Checkpoint.objects.filter(**filters).values_list("height", "hash", "signature")
    return {height: (hash_hex, signature) for height, hash_hex, signature in rows}


def _stored_blocks(from_height: int = 0) -> Iterator[BlockData]:
    """The main chain from `from_height` as the rule engine sees it, read in chunks."""
    next_height = from_height
    while True:
        main = Block.objects.filter(status=MAIN, height__gte=next_height).order_by("height")
        blocks = list(main.values(*_BLOCK_COLUMNS)[:_CHUNK])
        if not blocks:
            return
        rows = Record.objects.filter(block_id__in=[b["id"] for b in blocks]).order_by("block_id", "position")
        records = _group_records(rows.values_list(*_RECORD_COLUMNS))
        checkpoints = _checkpoints(height__in=[b["height"] for b in blocks])
        for block in blocks:
            yield _stored_block_data(block, records.get(block["id"], []), checkpoints.get(block["height"]))
        next_height = blocks[-1]["height"] + 1


# --- genesis and checkpoints -----------------------------------------------------------------------------


def genesis_ensure() -> Block:
    """The genesis block, stored on first use (same bytes on every install with the same chain parameters)."""
    existing = Block.objects.filter(status=MAIN, height=0).first()
    if existing is not None:
        return existing
    genesis = genesis_block(chain_params())
    checked = _rules().check(BlockData(0, genesis.header_bytes, genesis.record_bytes), None, lambda _: None)
    try:
        with transaction.atomic():
            block = _block_store(checked, genesis.record_bytes, status=MAIN)
            checkpoint_sign(block=block)
    except IntegrityError:  # another process stored it first
        return Block.objects.get(status=MAIN, height=0)
    return block


def checkpoint_sign(*, block: Block | None = None) -> Checkpoint:
    """Signs the hash of `block` (default: the main tip) at its height with the node key."""
    if block is None:
        block = main_tip()
    return _checkpoints_sign([block])[0]


def _checkpoints_sign(blocks: list[Block]) -> list[Checkpoint]:
    """Signs each block at its height, replacing the checkpoint stored there."""
    key = node_key()
    return Checkpoint.objects.bulk_create(
        [Checkpoint(height=b.height, hash=b.hash, signature=checkpoint_signature(key, b.height, b.hash)) for b in blocks],
        update_conflicts=True,
        unique_fields=["height"],
        update_fields=["hash", "signature"],
    )


def checkpoint_verify(checkpoint: Checkpoint) -> bool:
    """Whether the checkpoint was signed with this node's key."""
    return checkpoint_valid(node_public_key(), checkpoint.height, checkpoint.hash, checkpoint.signature)


# --- batches ---------------------------------------------------------------------------------------------


def batch_submit(
    *, experiment_id, round_number, parent_model, difficulty_bits, records: list[dict], mining_reward=None
) -> PendingBatch:
    """Queues one experiment round's records to be mined (the miner adds the coinbase, and a reward record
    paying itself `mining_reward` when that is given). Call it inside the transaction that records the round.
    Raises ValueError, naming what is wrong, for records that could never make a valid block; a round can be
    submitted once."""
    if mining_reward is not None:
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
        _rules().check_round_contents(record_bytes, height=1, previous=previous, canonical=True)
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


def batch_next() -> PendingBatch | None:
    """The oldest pending batch that can be mined now: its experiment's previous round is on the chain."""
    for batch in PendingBatch.objects.filter(status=PendingBatch.Status.PENDING).order_by("id"):
        previous = _experiment_lookup(2**62)(batch.experiment_id)
        if batch.round_number == (0 if previous is None else previous[0] + 1):
            return batch
    return None


def _batches_mined(block: Block):
    PendingBatch.objects.filter(
        experiment_id=block.experiment_id, round_number=block.round_number, status=PendingBatch.Status.PENDING
    ).update(status=PendingBatch.Status.MINED, block=block, mined_at=timezone.now())


# --- blocks ----------------------------------------------------------------------------------------------


def block_template(*, batch: PendingBatch) -> tuple[BlockHeader, list[dict]]:
    """The header (nonce 0, not yet mined) and records of the block that would put `batch` on the main tip."""
    header, records, _ = _block_template(batch)
    return header, records


def _block_template(batch: PendingBatch) -> tuple[BlockHeader, list[dict], list[bytes]]:
    """block_template's header and records, with the records' canonical bytes (the batch's records are
    encoded afresh, never taken as canonical from the stored batch)."""
    params = chain_params()
    tip = main_tip()
    height = tip.height + 1
    summary = _tip_summary(tip)
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
    record_bytes = _record_bytes(records)
    required = required_bits(height=height, parent_required_bits=tip.required_bits, recent_times=summary.times, params=params)
    header = BlockHeader(
        version=BLOCK_VERSION,
        prev_hash=summary.digest,
        merkle_root=merkle_root(record_bytes),
        time=max(int(time.time()), median_time_past(summary.times, params.median_time_span) + 1),
        bits=block_bits(required=required, difficulty_bits=batch.difficulty_bits),
        nonce=0,
    )
    return header, records, record_bytes


def _record_bytes(records: list[dict]) -> list[bytes]:
    try:
        return [canonical_bytes(record) for record in records]
    except ValueError as error:
        raise BlockRejected("records", str(error)) from None


def block_check(*, header: BlockHeader, records: list[dict]) -> CheckedBlock:
    """Checks a block against the stored block it extends (incrementally: a fixed number of queries)."""
    return _block_check(header, _record_bytes(records))


def _block_check(header: BlockHeader, record_bytes: list[bytes]) -> CheckedBlock:
    """block_check of records already encoded by `_record_bytes`."""
    raw = header.serialize()
    parent = Block.objects.filter(hash=display_hex(header.prev_hash)).first()
    if parent is None or parent.status != MAIN:
        state = "a stale block" if parent is not None else "not a stored block"
        raise BlockRejected("link", f"the parent {display_hex(header.prev_hash)} is {state}")
    height = parent.height + 1
    block = BlockData(height, raw, record_bytes, canonical=True)
    return _rules().check(block, _tip_summary(parent), _experiment_lookup(height))


def block_append(
    *, header: BlockHeader, records: list[dict], batch: PendingBatch | None = None, mined_seconds=None, hash_rate=None
) -> Block:
    """Validates a mined block against its parent and stores it, with its records, a signed checkpoint and a
    `block` event, in one transaction. A block for a height the main chain already has (a lost race) is kept
    as stale. Raises BlockRejected, storing nothing, for an invalid block."""
    genesis_ensure()  # the parent of the first block
    return _block_append(header, _record_bytes(records), batch=batch, mined_seconds=mined_seconds, hash_rate=hash_rate)


def _block_append(header: BlockHeader, record_bytes: list[bytes], *, batch, mined_seconds, hash_rate) -> Block:
    """block_append of records already encoded by `_record_bytes`: the bytes checked are the bytes stored."""
    with transaction.atomic():
        checked = _block_check(header, record_bytes)
        if batch is not None and (batch.experiment_id, batch.round_number) != (checked.experiment_id, checked.round_number):
            raise BlockRejected(
                "coinbase", f"the block is experiment {checked.experiment_id} round {checked.round_number}, not the batch's"
            )
        if Block.objects.filter(hash=checked.hash_hex).exists():
            raise BlockRejected("height", f"block {checked.hash_hex} is already stored", checked.height)
        try:
            with transaction.atomic():
                block = _block_store(checked, record_bytes, status=MAIN, mined_seconds=mined_seconds, hash_rate=hash_rate)
        except IntegrityError:  # the height is taken (this block lost the race), or another process stored it
            if Block.objects.filter(hash=checked.hash_hex).exists():
                raise BlockRejected("height", f"block {checked.hash_hex} is already stored", checked.height) from None
            block = _block_store(checked, record_bytes, status=Block.Status.STALE, mined_seconds=mined_seconds, hash_rate=hash_rate)
        if block.status == MAIN:
            _batches_mined(block)
            checkpoint_sign(block=block)
        event_emit(type=Event.Type.BLOCK, payload=block_payload(block), experiment_id=block.experiment_id)
    return block


def _block_row(checked: CheckedBlock, *, status, mined_seconds=None, hash_rate=None) -> Block:
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
    )


_RECORD_FIELDS = ["block", "position", "body", "txid", "type", "experiment_id", "round_number"]


def _record_rows(block: Block, checked: CheckedBlock, record_bytes) -> list[tuple]:
    """The block's Record rows, as values of _RECORD_FIELDS."""
    return [
        (block.pk, position, data.decode(), txid, kind, experiment_id, round_number)
        for position, (data, (txid, kind, experiment_id, round_number)) in enumerate(
            zip(record_bytes, checked.columns()["record_columns"])
        )
    ]


def _block_store(checked: CheckedBlock, record_bytes, *, status, mined_seconds=None, hash_rate=None) -> Block:
    block = _block_row(checked, status=status, mined_seconds=mined_seconds, hash_rate=hash_rate)
    block.save()
    rows_insert(Record, _RECORD_FIELDS, _record_rows(block, checked, record_bytes))
    return block


def blocks_store_checked(blocks: list[tuple[CheckedBlock, list[bytes]]]) -> list[Block]:
    """Stores, in bulk, blocks that the rule engine has just checked one after the other on top of the main
    tip, each with its signed checkpoint and without events: how synthetic chains for benchmarks are written
    (see synthetic.py). Anything else appends with block_append."""
    if not blocks:
        return []
    tip = main_tip()
    first = blocks[0][0]
    if (first.height, display_hex(first.header.prev_hash)) != (tip.height + 1, tip.hash):
        raise ValueError(f"the blocks do not start on the main tip (height {tip.height}, {tip.hash})")
    with transaction.atomic():
        rows = Block.objects.bulk_create([_block_row(checked, status=MAIN) for checked, _ in blocks])
        rows_insert(
            Record,
            _RECORD_FIELDS,
            (record for row, (checked, record_bytes) in zip(rows, blocks) for record in _record_rows(row, checked, record_bytes)),
        )
        _checkpoints_sign(rows)
    return rows


def block_payload(block: Block) -> dict:
    """What a `block` event says about a block."""
    return {
        "height": block.height,
        "hash": block.hash,
        "prev_hash": block.prev_hash,
        "status": block.status,
        "experiment": block.experiment_id,
        "round": block.round_number,
        "time": block.time,
        "bits": block.bits,
        "difficulty_bits": block.difficulty_bits,
        "records": block.records_count,
        "chainwork": block.chainwork,
        "mined_seconds": block.mined_seconds,
        "hash_rate": block.hash_rate,
    }


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
        batch.refresh_from_db()
        if batch.status != PendingBatch.Status.PENDING:
            return None
    header, records, record_bytes = _block_template(batch)
    height = records[0]["height"]

    def progress(report):
        on_progress({**report, "height": height})

    result = search(header, should_stop=should_stop, on_progress=progress if on_progress else None)
    if result.header is None:
        return None
    try:
        return _block_append(
            result.header, record_bytes, batch=batch, mined_seconds=result.seconds, hash_rate=result.hash_rate
        )
    except BlockRejected as rejected:
        batch.refresh_from_db()
        if rejected.rule == "fl-continuity" and batch.status == PendingBatch.Status.MINED:
            return None  # another miner's block for this round won while we searched
        raise


# --- verification ----------------------------------------------------------------------------------------


def chain_verify(*, from_height: int = 0) -> ChainReport:
    """Re-checks the stored main chain from `from_height` (default: all of it), recomputing every hash, root,
    target and rule from the stored bytes, signed checkpoints included. The report names the first invalid
    height, rule and a plain message."""
    genesis_ensure()
    walker = ChainWalker(_rules(checkpoints=True))
    if from_height > 0:
        start = Block.objects.filter(status=MAIN, height=from_height - 1).first()
        if start is None:
            raise ValueError(f"there is no main block at height {from_height - 1} to start after")
        walker.tip = _tip_summary(start)
        walker.experiments = _experiments_before(from_height)
    return verify_blocks(_stored_blocks(from_height), walker)


def chain_status() -> dict:
    """The chain's state for the dashboard, cheaply: the tip, whether its hash and signed checkpoint still
    hold, and the last verdict of `watch_chain` (which re-checks the whole chain continuously).

    A read: it writes nothing, not even the genesis block. A database without blocks (the genesis block is
    stored by migrate, the first append and watch_chain) reports an empty chain, height and tip None; main
    blocks without a genesis block under them are reported invalid."""
    tip = Block.objects.filter(status=MAIN).order_by("-height").first()
    verdict = Event.objects.filter(type=Event.Type.CHAIN_STATUS).order_by("-id").values_list("payload", flat=True).first()
    first_invalid = verdict.get("first_invalid") if verdict else None
    checkpoint_ok = False
    if tip is not None:
        checkpoint = Checkpoint.objects.filter(height=tip.height).first()
        tip_ok = display_hex(sha256d(_as_bytes(tip.header))) == tip.hash
        checkpoint_ok = checkpoint is not None and checkpoint.hash == tip.hash and checkpoint_verify(checkpoint)
        if first_invalid is None and not Block.objects.filter(status=MAIN, height=0).exists():
            first_invalid = {"height": 0, "rule": "genesis", "message": "the genesis block is missing"}
        if first_invalid is None and not tip_ok:
            first_invalid = {"height": tip.height, "rule": "hash", "message": "the tip's stored hash is not its header's"}
        if first_invalid is None and not checkpoint_ok:
            first_invalid = {"height": tip.height, "rule": "checkpoint", "message": "the tip has no valid signed checkpoint"}
    return {
        "valid": first_invalid is None,
        "height": tip.height if tip else None,
        "tip": tip.hash if tip else None,
        "chainwork": tip.chainwork if tip else "0" * 64,
        "checkpoint": checkpoint_ok,
        "first_invalid": first_invalid,
        "checked_at": verdict.get("checked_at") if verdict else None,
    }


# --- export and import -----------------------------------------------------------------------------------

EXPORT_FORMAT = "fedchain-chain"
EXPORT_VERSION = 1


def chain_export() -> dict:
    """The main chain as a JSON-ready object: per block its height, hash, raw header (hex) and records in
    Merkle-leaf order, so anyone can re-check it with a SHA-256 and an RFC 8785 encoder."""
    genesis_ensure()
    blocks = []
    for block in _stored_blocks():
        blocks.append(
            {
                "height": block.height,
                "hash": block.hash_hex,
                "header_hex": block.header.hex(),
                "records": [json.loads(data) for data in block.records],
            }
        )
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "params": chain_params().as_dict(), "blocks": blocks}


def _import_block(position: int, item) -> BlockData:
    where = f"blocks[{position}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} is not an object with height, hash, header_hex and records")
    missing = [key for key in ("height", "hash", "header_hex", "records") if key not in item]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    height = item["height"]
    if not isinstance(height, int) or isinstance(height, bool) or height < 0:
        raise ValueError(f"{where}.height must be a non-negative integer, got {height!r}")
    try:
        parse_display_hex(item["hash"])
        header = BlockHeader.from_hex(item["header_hex"]).serialize()
    except ValueError as error:
        raise ValueError(f"{where} (height {height}): {error}") from None
    if not isinstance(item["records"], list):
        raise ValueError(f"{where}.records must be a list of record objects")
    record_bytes = []
    for index, record in enumerate(item["records"]):
        try:
            record_bytes.append(canonical_bytes(record))
        except ValueError as error:
            raise ValueError(f"{where}.records[{index}] (height {height}): {error}") from None
    return BlockData(height, header, record_bytes, hash_hex=item["hash"].lower(), canonical=True)


def chain_import(data) -> dict:
    """Imports an exported chain. Everything is validated first; nothing is written unless the whole file is
    a valid chain from our genesis. Where it diverges from the stored chain, the one with more cumulative
    work wins (the local blocks it replaces are kept as stale). Raises ValueError with a plain reason."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT or not isinstance(data.get("blocks"), list):
        raise ValueError(f"not a FedChain export: expected an object with format {EXPORT_FORMAT!r} and a list of blocks")
    if data.get("version") != EXPORT_VERSION:
        raise ValueError(f"export version {data.get('version')!r} is not supported (this node reads {EXPORT_VERSION})")
    params = chain_params()
    if data.get("params") != params.as_dict():
        raise ValueError(f"the file's chain parameters {data.get('params')} differ from this node's {params.as_dict()}")
    blocks = [_import_block(position, item) for position, item in enumerate(data["blocks"])]
    walker = ChainWalker(_rules())
    checked = []
    for block in blocks:
        try:
            checked.append(walker.add(block))
        except BlockRejected as rejected:
            raise ValueError(f"{rejected.violation}; nothing was imported") from None
    if not checked:
        raise ValueError("the file holds no blocks; nothing was imported")

    genesis_ensure()
    with transaction.atomic():
        local = dict(Block.objects.filter(status=MAIN).values_list("height", "hash"))
        fork = next((c.height for c in checked if local.get(c.height) != c.hash_hex), None)
        if fork is None:
            return {"added": 0, "replaced": 0, "height": checked[-1].height}
        local_tip = Block.objects.filter(status=MAIN).order_by("-height").first()
        replaced = Block.objects.filter(status=MAIN, height__gte=fork)
        if replaced.exists() and checked[-1].chainwork <= local_tip.chainwork_int:
            raise ValueError(
                f"the chains diverge at height {fork} and the stored chain has at least as much work "
                f"({local_tip.chainwork_int:#x} >= {checked[-1].chainwork:#x}); nothing was imported"
            )
        replaced_count = replaced.count()
        PendingBatch.objects.filter(block__in=replaced).update(
            status=PendingBatch.Status.PENDING, block=None, mined_at=None
        )
        replaced.update(status=Block.Status.STALE)
        for item, block in zip(checked[fork:], blocks[fork:]):
            stored = Block.objects.filter(hash=item.hash_hex).first()
            if stored is not None:
                stored.status = MAIN
                stored.save(update_fields=["status"])
            else:
                stored = _block_store(item, block.records, status=MAIN)
            _batches_mined(stored)
            checkpoint_sign(block=stored)
            event_emit(type=Event.Type.BLOCK, payload=block_payload(stored), experiment_id=stored.experiment_id)
    return {"added": len(checked) - fork, "replaced": replaced_count, "height": checked[-1].height}


# --- watching --------------------------------------------------------------------------------------------


class ChainWatcher:
    """Re-checks the stored chain cheaply and often (`manage.py watch_chain`).

    Each check reads every main block with its records and checkpoint and fingerprints the rows. Blocks whose
    rows are unchanged since they were verified keep their verdict; new blocks at the tip are checked
    incrementally; any other change (an edited body, header or column, a deleted or inserted row) re-runs the
    full rules over what was read. The watcher also remembers the most work it has seen verified, so a chain
    whose tail was deleted together with its checkpoints is reported too.
    """

    def __init__(self):
        self.fingerprints: list[int] = []
        self.walker: ChainWalker | None = None
        self.report: ChainReport | None = None
        self.best: tuple[int, int] = (0, -1)  # (chainwork, height) of the best chain verified valid

    def _read(self):
        """Every main block's stored values with a fingerprint of them; three queries, no model instances."""
        blocks = list(Block.objects.filter(status=MAIN).order_by("height").values(*_BLOCK_COLUMNS))
        rows = Record.objects.filter(block__status=MAIN).order_by("block_id", "position")
        records = _group_records(rows.values_list(*_RECORD_COLUMNS))
        checkpoints = _checkpoints()
        read = []
        for block in blocks:
            block_records = records.get(block["id"], [])
            checkpoint = checkpoints.get(block["height"])
            # Python's hash: SipHash, keyed afresh in every process, over every stored value. It only has to
            # notice a change between two reads; the rules, not the fingerprint, judge what changed.
            fingerprint = hash((tuple(block.values()), tuple(block_records), checkpoint))
            read.append((fingerprint, block, block_records, checkpoint))
        return read

    def check(self) -> ChainReport:
        try:
            return self._check()
        except Exception:
            self.report, self.fingerprints = None, []  # start afresh next time
            raise

    def _check(self) -> ChainReport:
        if self.report is None:
            genesis_ensure()
        rows = self._read()
        fingerprints = [row[0] for row in rows]
        known = len(self.fingerprints)
        if self.report is not None and fingerprints == self.fingerprints:
            return self.report
        if self.report is not None and self.report.valid and fingerprints[:known] == self.fingerprints:
            new_rows = rows[known:]  # only blocks appended at the tip since the last check
        else:
            self.walker = ChainWalker(_rules(checkpoints=True))
            self.fingerprints = []
            new_rows = rows
        violation = None
        for fingerprint, block, block_records, checkpoint in new_rows:
            try:
                self.walker.add(_stored_block_data(block, block_records, checkpoint))
            except BlockRejected as rejected:
                violation = rejected.violation
                break
            self.fingerprints.append(fingerprint)
        if self.walker.tip is None and violation is None:
            violation = BlockRejected("genesis", "the chain has no blocks, not even the genesis block", 0).violation
        report = self.walker.report(violation)
        best_work, best_height = self.best
        if report.valid and report.chainwork < best_work:
            report = self.walker.report(
                BlockRejected(
                    "height",
                    f"blocks {report.height + 1} to {best_height} were verified earlier and are gone "
                    f"(the chain's work went down)",
                    report.height + 1,
                ).violation
            )
        elif report.valid:
            self.best = (report.chainwork, report.height)
        if not report.valid:
            # Re-checked in full next time: a later repair must be seen, not hidden behind old fingerprints.
            self.fingerprints = fingerprints
        self.report = report
        return report


def chain_status_payload(report: ChainReport) -> dict:
    return {**report.as_dict(), "checked_at": timezone.now().isoformat()}
