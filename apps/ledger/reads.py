"""Reads of the stored chain: its parameters and rules, the tip, a block checked against the block it extends,
the pending batches, the chain's status, and the stored blocks as the rule engine sees them. Nothing here writes.
"""

import json
import math
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Max, OuterRef, Subquery

from apps.core.keys import node_public_key
from apps.events.models import Event

from .checkpoint import checkpoint_valid
from .header import BlockHeader, display_hex, sha256d
from .models import Block, Checkpoint, PendingBatch, Record
from .params import ChainParams
from .pow import bits_to_target
from .records import GLOBAL_MODEL, canonical_bytes
from .rules import BlockData, BlockRejected, ChainTip, Rules

MAIN = Block.Status.MAIN
CHUNK = 500  # blocks read per query when walking the stored chain


def chain_params() -> ChainParams:
    return ChainParams(
        pow_limit_bits=settings.FEDCHAIN_POW_LIMIT_BITS,
        retarget_interval=settings.FEDCHAIN_RETARGET_INTERVAL,
        target_spacing=settings.FEDCHAIN_TARGET_SPACING,
        max_block_records=settings.FEDCHAIN_MAX_BLOCK_RECORDS,
        max_record_bytes=settings.FEDCHAIN_MAX_RECORD_BYTES,
    )


def chain_rules(*, checkpoints: bool = False) -> Rules:
    public_key = node_public_key()

    def check(height, hash_hex, signature):
        return checkpoint_valid(public_key, height, hash_hex, signature)

    return Rules(chain_params(), now=int(time.time()), checkpoint_check=check if checkpoints else None)


def stored_bytes(value) -> bytes:
    """Column bytes as stored; SQLite lets a raw edit put text where bytes belong, which must fail the checks,
    not crash them."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


def tip_summary(block: Block) -> ChainTip:
    """The rule engine's summary of the chain up to `block`, from a fixed number of rows (no chain walk).
    Times come from the stored header bytes; the derived columns it trusts (required bits, chainwork) are
    the ones verify_chain checks against the bytes."""
    window = chain_params().time_window
    rows = Block.objects.filter(status=MAIN, height__lte=block.height, height__gt=block.height - window)
    times = []
    for height, raw in rows.order_by("height").values_list("height", "header"):
        try:
            times.append(BlockHeader.parse(stored_bytes(raw)).time)
        except ValueError as error:
            raise BlockRejected("header", f"stored block {height}: {error}", height) from None
    chainwork = parse_chainwork(block.chainwork)
    if not isinstance(chainwork, int) or not isinstance(block.required_bits, int):
        raise BlockRejected("stored-fields", "the stored chainwork or required bits are not numbers", block.height)
    return ChainTip(
        height=block.height,
        digest=sha256d(stored_bytes(block.header)),
        required_bits=block.required_bits,
        chainwork=chainwork,
        times=tuple(times),
    )


def _global_model_body(block):
    return Record.objects.filter(block=block, type=GLOBAL_MODEL).values_list("body", flat=True)[:1]


def _model_of(body) -> str | None:
    try:
        return json.loads(body)["model"]
    except (TypeError, ValueError, KeyError):
        return None  # no readable global model: the next round's parent_model cannot match it


def round_model(block: Block) -> str | None:
    return _model_of(_global_model_body(block).first())


def experiment_lookup(before_height: int) -> Callable[[int], tuple[int, str] | None]:
    """(last round, its global model) of an experiment on the main chain below `before_height`."""

    def lookup(experiment_id):
        last = (
            Block.objects.filter(status=MAIN, experiment_id=experiment_id, height__lt=before_height)
            .order_by("-height")
            .values_list("round_number", Subquery(_global_model_body(OuterRef("pk"))))
            .first()
        )  # one query: this runs in every block's check
        return None if last is None else (last[0], _model_of(last[1]))

    return lookup


class ExperimentsBelow(dict):
    """A ChainWalker's experiment state when it starts at a height: read from the stored main chain below it
    as each experiment is first met (an indexed query each), instead of all up front."""

    def __init__(self, before_height: int):
        super().__init__()
        self._lookup = experiment_lookup(before_height)

    def get(self, experiment_id, default=None):
        if experiment_id not in self:
            self[experiment_id] = self._lookup(experiment_id)
        return super().get(experiment_id, default)


def experiments_before(height: int) -> dict:
    """Every experiment's last round below `height`: the walker's state when verification starts there."""
    last = (
        Block.objects.filter(status=MAIN, height__lt=height, experiment_id__isnull=False)
        .values("experiment_id")
        .annotate(height=Max("height"))
    )
    blocks = Block.objects.filter(status=MAIN, height__in=[row["height"] for row in last])
    return {block.experiment_id: (block.round_number, round_model(block)) for block in blocks}


def parse_chainwork(value):
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        return value  # fails the stored-fields comparison with a message naming it


# The stored columns the checks read: the bytes and every value derived from them.
BLOCK_COLUMNS = [field.attname for field in Block._meta.concrete_fields if field.attname not in ("created_at",)]


RECORD_COLUMNS = ["block_id", "position", "body", "txid", "type", "experiment_id", "round_number"]


def stored_block_data(block: dict, records: list[tuple], checkpoint: tuple | None) -> BlockData:
    """A stored block (its column values, its record rows without block_id) as the rule engine sees it."""
    return BlockData(
        height=block["height"],
        header=stored_bytes(block["header"]),
        records=[stored_bytes(body) for _, body, *_ in records],
        hash_hex=block["hash"],
        stored={
            "prev_hash": block["prev_hash"],
            "merkle_root": block["merkle_root"],
            "version": block["version"],
            "time": block["time"],
            "bits": block["bits"],
            "nonce": block["nonce"],
            "required_bits": block["required_bits"],
            "chainwork": parse_chainwork(block["chainwork"]),
            "records_count": block["records_count"],
            "experiment_id": block["experiment_id"],
            "round_number": block["round_number"],
            "difficulty_bits": block["difficulty_bits"],
            "record_columns": [list(columns) for _, _, *columns in records],
        },
        checkpoint=checkpoint,
    )


def records_by_block(rows) -> dict:
    records = {}
    for block_id, *fields in rows:
        records.setdefault(block_id, []).append(tuple(fields))
    return records


def checkpoints_by_height(**filters) -> dict:
    rows = Checkpoint.objects.filter(**filters).values_list("height", "hash", "signature")
    return {height: (hash_hex, signature) for height, hash_hex, signature in rows}


def stored_blocks(from_height: int = 0) -> Iterator[BlockData]:
    """The main chain from `from_height` as the rule engine sees it, read in chunks."""
    next_height = from_height
    while True:
        main = Block.objects.filter(status=MAIN, height__gte=next_height).order_by("height")
        blocks = list(main.values(*BLOCK_COLUMNS)[:CHUNK])
        if not blocks:
            return
        rows = Record.objects.filter(block_id__in=[b["id"] for b in blocks]).order_by("block_id", "position")
        records = records_by_block(rows.values_list(*RECORD_COLUMNS))
        checkpoints = checkpoints_by_height(height__in=[b["height"] for b in blocks])
        for block in blocks:
            yield stored_block_data(block, records.get(block["id"], []), checkpoints.get(block["height"]))
        next_height = blocks[-1]["height"] + 1


def checkpoint_verify(checkpoint: Checkpoint) -> bool:
    """Whether the checkpoint was signed with this node's key."""
    return checkpoint_valid(node_public_key(), checkpoint.height, checkpoint.hash, checkpoint.signature)


def batch_next() -> PendingBatch | None:
    """The oldest pending batch that can be mined now: its experiment's previous round is on the chain."""
    for batch in PendingBatch.objects.filter(status=PendingBatch.Status.PENDING).order_by("id"):
        if batch_minable(batch):
            return batch
    return None


def batch_minable(batch: PendingBatch) -> bool:
    """Whether a block holding `batch` can go on the main tip now: its experiment's previous round is the last
    one on the main chain (a reorganisation can take that round off again until it is mined anew)."""
    previous = experiment_lookup(2**62)(batch.experiment_id)
    return batch.round_number == (0 if previous is None else previous[0] + 1)


def records_encode(records: list[dict]) -> list[bytes]:
    try:
        return [canonical_bytes(record) for record in records]
    except ValueError as error:
        raise BlockRejected("records", str(error)) from None


def difficulty(bits: int) -> float | None:
    """Bitcoin's difficulty: how many times harder than the pow limit; None for bits that encode no target."""
    try:
        return chain_params().pow_limit / bits_to_target(bits)
    except (ValueError, ZeroDivisionError):
        return None


def work_bits(bits: int) -> float | None:
    """The difficulty in bits, the unit FedChain shows people: log2 of the hashes expected to find a block at
    this target (12 bits: about 4096 hashes). None for bits that encode no target."""
    try:
        return 256 - math.log2(bits_to_target(bits) + 1)
    except (ValueError, ZeroDivisionError):
        return None


def block_payload(block: Block) -> dict:
    """A block's one shape: the JSON API, the websocket's `block` and `reorg` events, the dashboard and the
    network page all show a block so. Header fields keep the names of Bitcoin Core's `getblock` (merkleroot,
    nTx, previousblockhash, bits as hex); the rest is FedChain's own."""
    return {
        "hash": block.hash,
        "height": block.height,
        "version": block.version,
        "merkleroot": block.merkle_root,
        "time": block.time,
        "bits": f"{block.bits:08x}",
        "nonce": block.nonce,
        "work_bits": work_bits(block.bits),
        "difficulty": difficulty(block.bits),
        "chainwork": block.chainwork,
        "nTx": block.records_count,
        "previousblockhash": block.prev_hash if block.height > 0 else None,
        "status": block.status,
        "experiment": block.experiment_id,
        "round": block.round_number,
        "difficulty_bits": block.difficulty_bits,
        "time_to_mine": block.mined_seconds,
        "hash_rate": block.hash_rate,
        "mined_by": block.mined_by or None,
    }


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
        # The tip's checkpoint and, in the same query, whether any was signed above it.
        signed = list(Checkpoint.objects.filter(height__gte=tip.height).order_by("height")[:2])
        checkpoint = signed[0] if signed and signed[0].height == tip.height else None
        tip_ok = display_hex(sha256d(stored_bytes(tip.header))) == tip.hash
        checkpoint_ok = checkpoint is not None and checkpoint.hash == tip.hash and checkpoint_verify(checkpoint)
        if first_invalid is None and not Block.objects.filter(status=MAIN, height=0).exists():
            first_invalid = {"height": 0, "rule": "genesis", "message": "the genesis block is missing"}
        if first_invalid is None and not tip_ok:
            first_invalid = {"height": tip.height, "rule": "hash", "message": "the tip's stored hash is not its header's"}
        if first_invalid is None and not checkpoint_ok:
            first_invalid = {"height": tip.height, "rule": "checkpoint", "message": "the tip has no valid signed checkpoint"}
        if first_invalid is None and signed and signed[-1].height > tip.height:
            first_invalid = {
                "height": tip.height + 1, "rule": "height",
                "message": f"block {tip.height + 1} is missing: checkpoints were signed above the tip; the chain was truncated",
            }
    return {
        "valid": first_invalid is None,
        "height": tip.height if tip else None,
        "tip": tip.hash if tip else None,
        "chainwork": tip.chainwork if tip else "0" * 64,
        "checkpoint": checkpoint_ok,
        "first_invalid": first_invalid,
        "checked_at": verdict.get("checked_at") if verdict else None,
    }
