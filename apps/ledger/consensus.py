"""Consensus with other nodes: blocks received on any branch, fork choice by most cumulative work, and the
reorganisation that follows, plus the reads a peer asks for (headers after a locator, a block's bytes).

A received block is checked by the same rules as a local one, against the branch it extends (its own last
block times, required bits, work and experiment rounds), never against the main chain when it is not on it.
It is stored as main when it extends the main tip, as stale when its branch has no more work than the main
chain (a tie: see _heavier), and when its branch has more work the chain is reorganised: in ONE transaction the main blocks above the fork become stale and the branch becomes main, the
batches of the rounds that left the chain are pending again, those of the rounds that joined it are mined,
the checkpoints above the fork are signed anew, and ONE `reorg` event tells what happened.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from apps.events.models import Event
from apps.events.services import event_emit

from .header import BlockHeader, display_hex, sha256d
from .locator import locator_heights
from .miner import mined_claim_valid
from .models import Block, Checkpoint, PendingBatch, Record
from .pow import hash_value
from .rules import BlockData, BlockRejected, ChainTip, ChainWalker
from .reads import (
    ExperimentsBelow,
    MAIN,
    block_payload,
    chain_params,
    chain_rules,
    experiment_lookup,
    round_model,
    stored_bytes,
    tip_summary,
)
from .store import batch_submit, batches_mined, block_store_checked, checkpoint_sign, genesis_ensure, main_tip
from .records import parse_canonical

STALE = Block.Status.STALE
MAX_HEADERS = 2000  # per answer to a locator, as Bitcoin's getheaders
MAX_LOCATOR = 64
_CHAIN_LOCK_ID = 0x46634368  # "FcCh": one writer of the chain's shape at a time (PostgreSQL)


@dataclass(frozen=True)
class Received:
    block: Block
    outcome: str  # "main" (extends the main tip), "stale", "reorg" (its branch is now main) or "known"


def chain_lock():
    """Serialises changes of which blocks are main. SQLite's IMMEDIATE transactions already hold the write
    lock from their first statement; PostgreSQL takes a transaction-scoped advisory lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


def _parent_of(block: Block) -> Block:
    parent = Block.objects.filter(hash=block.prev_hash).first()
    if parent is None:
        raise BlockRejected("link", f"stored block {block.hash} has no stored parent", block.height)
    return parent


def _side_branch(block: Block) -> tuple[list[Block], Block]:
    """The non-main blocks from `block` down to the main chain, newest first, and the main block they fork
    from. Its length is what was accepted on that branch (see block_receive)."""
    branch = []
    while block.status != MAIN:
        branch.append(block)
        block = _parent_of(block)
    return branch, block


def branch_tip(parent: Block) -> tuple[ChainTip, object]:
    """What checking a child of `parent` needs: the rule engine's summary of the chain up to `parent` along
    its own branch, and the lookup of an experiment's last round on that branch."""
    if parent.status == MAIN:
        return tip_summary(parent), experiment_lookup(parent.height + 1)
    branch, fork = _side_branch(parent)
    base = tip_summary(fork)
    window = chain_params().time_window
    times = [BlockHeader.parse(stored_bytes(b.header)).time for b in reversed(branch)]
    tip = ChainTip(
        height=parent.height,
        digest=sha256d(stored_bytes(parent.header)),
        required_bits=parent.required_bits,
        chainwork=parent.chainwork_int,
        times=(*base.times, *times)[-window:],
    )
    main_lookup = experiment_lookup(fork.height + 1)

    def lookup(experiment_id):
        for block in branch:  # newest first
            if block.experiment_id == experiment_id:
                return block.round_number, round_model(block)
        return main_lookup(experiment_id)

    return tip, lookup


def header_tip(hash_hex: str) -> ChainTip | None:
    """The rule engine's summary at a stored block (any branch), for checking headers that follow it."""
    block = Block.objects.filter(hash=hash_hex).first()
    return None if block is None else branch_tip(block)[0]


@dataclass(frozen=True)
class PeerBlock:
    """A block as a peer sent it: its header, its records' bytes and who says it mined it."""

    header: bytes
    records: Sequence[bytes]
    mined_by: str = ""
    mined_signature: str = ""


def blocks_receive(blocks: Sequence[PeerBlock]) -> list[Received]:
    """Validates and stores blocks from a peer, given in chain order, as block_receive does one. The blocks
    that extend the main tip one after the other (what a node catching up receives) are checked in memory, each
    on the one before, and stored in ONE transaction; from the first that does not (a branch, a reorganisation,
    a block already held), they go one by one through block_receive. At an invalid block, the valid ones before
    it are stored and BlockRejected is raised."""
    genesis_ensure()
    received, rejected = [], None
    with transaction.atomic():
        chain_lock()
        main = main_tip()
        walker = ChainWalker(chain_rules(), tip=tip_summary(main), experiments=ExperimentsBelow(main.height + 1))
        for block in blocks:
            header = bytes(block.header)
            hash_hex = display_hex(sha256d(header))
            if header[4:36] != walker.tip.digest or Block.objects.filter(hash=hash_hex).exists():
                break
            try:
                checked = walker.add(BlockData(walker.tip.height + 1, header, [bytes(r) for r in block.records]))
            except BlockRejected as error:
                rejected = error
                break
            received.append(Received(_main_block_store(checked, hash_hex, block.mined_by, block.mined_signature), "main"))
    if rejected is not None:
        raise rejected
    for block in blocks[len(received):]:
        received.append(block_receive(
            header=block.header, records=block.records, mined_by=block.mined_by, mined_signature=block.mined_signature
        ))
    return received


def _mined_fields(hash_hex, mined_by, mined_signature) -> dict:
    """Who mined the block, kept only with a valid signature of its hash by that node."""
    if not (mined_by and mined_claim_valid(mined_by, hash_hex, mined_signature)):
        mined_by, mined_signature = "", ""
    return {"mined_by": mined_by, "mined_signature": mined_signature}


def _main_block_store(checked, hash_hex, mined_by, mined_signature) -> Block:
    """Stores a checked block on the main tip: its round's batch mined, its checkpoint signed, its event."""
    block = block_store_checked(checked, status=MAIN, **_mined_fields(hash_hex, mined_by, mined_signature))
    batches_mined(block)
    checkpoint_sign(block=block)
    event_emit(type=Event.Type.BLOCK, payload=block_payload(block), experiment_id=block.experiment_id)
    return block


def block_receive(*, header: bytes, records: Sequence[bytes], mined_by: str = "", mined_signature: str = "") -> Received:
    """Validates a block from a peer against the branch it extends and stores it (main, stale, or by a
    reorganisation), in one transaction. Raises BlockRejected, storing nothing, when it breaks a rule or
    its parent is not stored (rule 'link': fetch the parent first). mined_by is kept only with a valid
    signature of the block hash by that node."""
    genesis_ensure()
    header = bytes(header)
    record_bytes = [bytes(r) for r in records]
    hash_hex = display_hex(sha256d(header))
    with transaction.atomic():
        chain_lock()
        existing = Block.objects.filter(hash=hash_hex).first()
        if existing is not None:
            return Received(existing, "known")
        try:
            parsed = BlockHeader.parse(header)
        except ValueError as error:
            raise BlockRejected("header", str(error)) from None
        parent = Block.objects.filter(hash=display_hex(parsed.prev_hash)).first()
        if parent is None:
            raise BlockRejected("link", f"the parent {display_hex(parsed.prev_hash)} is not a stored block")
        tip, lookup = branch_tip(parent)
        checked = chain_rules().check(BlockData(parent.height + 1, header, record_bytes), tip, lookup)
        main = main_tip()
        if parent.hash == main.hash:
            return Received(_main_block_store(checked, hash_hex, mined_by, mined_signature), "main")
        block = block_store_checked(checked, status=STALE, **_mined_fields(hash_hex, mined_by, mined_signature))
        if not _heavier(block, main):
            event_emit(type=Event.Type.BLOCK, payload=block_payload(block), experiment_id=block.experiment_id)
            return Received(block, "stale")
        _reorganise(block, main)
        block.refresh_from_db()
        return Received(block, "reorg")


def _heavier(block: Block, main: Block) -> bool:
    """Fork choice: more cumulative work wins. On equal work the branch whose first block after the fork came
    first wins: the earlier header time, then the lower hash. Deterministic, so every node converges on the same
    tip as soon as it holds both branches, however late one reached it (a chain of experiment rounds may have
    no next block to break a tie); and a tail re-mined after the fact carries later times, so it loses to the
    chain the network already holds (unless its miner backdates it, which the time rule allows down to the
    median of the previous 11 blocks: then only the work decides)."""
    if block.chainwork_int != main.chainwork_int:
        return block.chainwork_int > main.chainwork_int
    branch, fork = _side_branch(block)
    rival = Block.objects.filter(status=MAIN, height=fork.height + 1).first()
    if rival is None:
        return False
    first = branch[-1]
    return (first.time, hash_value(sha256d(stored_bytes(first.header)))) < (
        rival.time, hash_value(sha256d(stored_bytes(rival.header)))
    )


def _reorganise(new_tip: Block, old_tip: Block):
    """Makes the branch ending at `new_tip` the main chain (inside block_receive's transaction)."""
    branch, fork = _side_branch(new_tip)
    branch.reverse()  # oldest first
    leaving = list(Block.objects.filter(status=MAIN, height__gt=fork.height).order_by("height"))
    PendingBatch.objects.filter(block__in=leaving).update(status=PendingBatch.Status.PENDING, block=None, mined_at=None)
    Block.objects.filter(pk__in=[b.pk for b in leaving]).update(status=STALE)
    Block.objects.filter(pk__in=[b.pk for b in branch]).update(status=MAIN)
    for block in branch:
        block.status = MAIN
        batches_mined(block)
    Checkpoint.objects.filter(height__gt=fork.height).delete()
    for block in branch:
        checkpoint_sign(block=block)
    event_emit(
        type=Event.Type.REORG,
        payload={
            "fork": {"height": fork.height, "hash": fork.hash},
            "old_tip": {"height": old_tip.height, "hash": old_tip.hash, "chainwork": old_tip.chainwork},
            "new_tip": {"height": new_tip.height, "hash": new_tip.hash, "chainwork": new_tip.chainwork},
            "stale": [block_payload(b) | {"status": STALE} for b in leaving],
            "main": [block_payload(b) for b in branch],
        },
    )


def batch_receive(
    *, experiment_id, round_number, parent_model, difficulty_bits, records: Sequence[bytes], mining_reward=None
) -> PendingBatch:
    """Stores a round's batch announced by a peer, to be mined here too, paying `mining_reward` (if any) to
    whichever node mines it. The records must be canonical; the same content checks as for a local batch apply
    (ValueError). A batch already known is returned as it is."""
    existing = PendingBatch.objects.filter(experiment_id=experiment_id, round_number=round_number).first()
    if existing is not None:
        return existing
    parsed = []
    for position, data in enumerate(records, start=1):
        try:
            parsed.append(parse_canonical(bytes(data)))
        except ValueError as error:
            raise ValueError(f"record {position}: {error}") from None
    with transaction.atomic():
        batch = batch_submit(
            experiment_id=experiment_id,
            round_number=round_number,
            parent_model=parent_model,
            difficulty_bits=difficulty_bits,
            records=parsed,
            mining_reward=mining_reward,
        )
        holder = Block.objects.filter(status=MAIN, experiment_id=experiment_id, round_number=round_number).first()
        if holder is not None:
            batches_mined(holder)
            batch.refresh_from_db()
    return batch


# --- what peers read ---------------------------------------------------------------------------------------


def chain_locator() -> list[str]:
    """Hashes of the main chain at the locator heights (dense near the tip, then exponentially sparser, down
    to the genesis block): a peer finds the last one it shares with us."""
    tip = main_tip()
    heights = locator_heights(tip.height)
    by_height = dict(Block.objects.filter(status=MAIN, height__in=heights).values_list("height", "hash"))
    return [by_height[h] for h in heights if h in by_height]


def headers_after(locator: Sequence[str], *, limit: int = MAX_HEADERS) -> list[bytes]:
    """Up to `limit` main-chain headers following the first locator hash that is on our main chain (from the
    genesis block when none is)."""
    start = None
    known = dict(Block.objects.filter(status=MAIN, hash__in=list(locator)[:MAX_LOCATOR]).values_list("hash", "height"))
    for hash_hex in list(locator)[:MAX_LOCATOR]:
        if hash_hex in known:
            start = known[hash_hex]
            break
    rows = Block.objects.filter(status=MAIN, height__gt=-1 if start is None else start).order_by("height")
    return [stored_bytes(raw) for raw in rows.values_list("header", flat=True)[: min(limit, MAX_HEADERS)]]


def block_bytes(hash_hex: str) -> tuple[Block, bytes, list[bytes]] | None:
    """A stored block (any branch) with its header and record bytes in leaf order."""
    block = Block.objects.filter(hash=hash_hex).first()
    if block is None:
        return None
    bodies = Record.objects.filter(block=block).order_by("position").values_list("body", flat=True)
    return block, stored_bytes(block.header), [stored_bytes(body) for body in bodies]


def headers_check(headers: Sequence[bytes], *, after: ChainTip | None = None) -> list[ChainTip]:
    """Checks a peer's headers in order (headers-first sync) and returns the chain summary after each. The
    first follows `after`, or the stored block it names as its parent. Raises BlockRejected at the first
    header that breaks a rule or does not connect."""
    if not headers:
        return []
    if after is None:
        try:
            parent = display_hex(BlockHeader.parse(bytes(headers[0])).prev_hash)
        except ValueError as error:
            raise BlockRejected("header", str(error)) from None
        after = header_tip(parent)
        if after is None:
            raise BlockRejected("link", f"the first header's parent {parent} is not a stored block")
    rules = chain_rules()
    tips = []
    for raw in headers:
        after = rules.check_header(bytes(raw), after)
        tips.append(after)
    return tips


def blocks_set_aside(*, above_height: int) -> list[dict]:
    """Takes every stored block above `above_height` (any branch) out of the chain, for a repair that fetches
    them again from peers: returns them as exported (height, hash, status, header hex, record bytes as text,
    for the caller to keep), and deletes them with their records and checkpoints in ONE transaction with ONE
    `reorg` event; the batches they held are pending again. The blocks up to `above_height` must be valid."""
    genesis_ensure()
    if above_height < 0:
        raise ValueError("the genesis block always stays")
    with transaction.atomic():
        chain_lock()
        old_tip = main_tip()
        blocks = list(Block.objects.filter(height__gt=above_height).order_by("height", "id"))
        kept = Block.objects.get(status=MAIN, height=above_height)
        removed = []
        bodies = Record.objects.filter(block__in=blocks).order_by("block_id", "position").values_list("block_id", "body")
        records = {}
        for block_id, body in bodies:
            records.setdefault(block_id, []).append(body)
        for block in blocks:
            removed.append({
                "height": block.height, "hash": block.hash, "status": block.status,
                "header_hex": stored_bytes(block.header).hex(), "records": records.get(block.pk, []),
            })
        PendingBatch.objects.filter(block__in=blocks).update(status=PendingBatch.Status.PENDING, block=None, mined_at=None)
        Record.objects.filter(block__in=blocks).delete()
        Checkpoint.objects.filter(height__gt=above_height).delete()
        Block.objects.filter(pk__in=[b.pk for b in blocks]).delete()
        event_emit(
            type=Event.Type.REORG,
            payload={
                "repair": True,
                "fork": {"height": kept.height, "hash": kept.hash},
                "old_tip": {"height": old_tip.height, "hash": old_tip.hash, "chainwork": old_tip.chainwork},
                "new_tip": {"height": kept.height, "hash": kept.hash, "chainwork": kept.chainwork},
                "stale": [{"height": b["height"], "hash": b["hash"], "status": "removed"} for b in removed],
                "main": [],
            },
        )
    return removed
