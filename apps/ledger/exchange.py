"""Exchange of the chain as a file: export of the main chain for anyone to re-check, and import of an exported
chain (validated in full first; fork choice by cumulative work)."""

import json

from django.db import transaction

from apps.events.models import Event
from apps.events.services import event_emit

from .header import BlockHeader, parse_display_hex
from .models import Block, PendingBatch
from .reads import MAIN, block_payload, chain_params, chain_rules, stored_blocks
from .records import canonical_bytes
from .rules import BlockData, BlockRejected, ChainWalker
from .store import batches_mined, block_store_checked, checkpoint_sign, genesis_ensure

EXPORT_FORMAT = "fedchain-chain"


EXPORT_VERSION = 1


def chain_export() -> dict:
    """The main chain as a JSON-ready object: per block its height, hash, raw header (hex) and records in
    Merkle-leaf order, so anyone can re-check it with a SHA-256 and an RFC 8785 encoder."""
    genesis_ensure()
    blocks = []
    for block in stored_blocks():
        blocks.append(
            {
                "height": block.height,
                "hash": block.hash_hex,
                "header_hex": block.header.hex(),
                "records": [json.loads(data) for data in block.records],
            }
        )
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "params": chain_params().as_dict(), "blocks": blocks}


def _block_data_from_export(position: int, item) -> BlockData:
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
    blocks = [_block_data_from_export(position, item) for position, item in enumerate(data["blocks"])]
    walker = ChainWalker(chain_rules())
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
                stored = block_store_checked(item, status=MAIN)
            batches_mined(stored)
            checkpoint_sign(block=stored)
            event_emit(type=Event.Type.BLOCK, payload=block_payload(stored), experiment_id=stored.experiment_id)
    return {"added": len(checked) - fork, "replaced": replaced_count, "height": checked[-1].height}
