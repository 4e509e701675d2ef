"""Exchange of the chain as a file: export of the main chain for anyone to re-check, and import of an exported
chain (validated in full first; fork choice by cumulative work)."""

import json

from django.conf import settings
from django.db import transaction

from .header import BlockHeader, parse_display_hex
from .jsonstream import export_items
from .models import Block
from .reads import MAIN, chain_params, chain_rules, stored_blocks
from .records import canonical_bytes
from .rules import BlockData, BlockRejected, ChainWalker
from .consensus import PeerBlock, blocks_receive
from .store import genesis_ensure

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


# One block of an export is at most this much JSON (a file's first huge member is refused unread beyond it).
MAX_BLOCK_JSON_BYTES = 16 * 1024 * 1024


def chain_import(data) -> dict:
    """Imports an exported chain given as a parsed object (see chain_import_file)."""
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise ValueError(f"not a FedChain export: expected an object with format {EXPORT_FORMAT!r} and a list of blocks")
    members = [(key, value) for key, value in data.items() if key != "blocks"]
    return _import(iter([*members, *(("block", item) for item in data["blocks"])]))


def chain_import_file(stream) -> dict:
    """Imports an export_chain file read from a binary `stream`, one block at a time: at most
    FEDCHAIN_IMPORT_MAX_BYTES are read and a file is refused at its first bad block, so junk costs neither
    the memory of parsing it whole nor the time of reading it to the end."""
    return _import(export_items(stream, max_bytes=settings.FEDCHAIN_IMPORT_MAX_BYTES, max_item_bytes=MAX_BLOCK_JSON_BYTES))


def _import(items) -> dict:
    """Imports an exported chain from (member, value) pairs, ("block", item) for each block in order.
    Everything is validated first; nothing is written unless the whole file is a valid chain from our
    genesis. Where it diverges from the stored chain, the one with more cumulative work wins (the local blocks
    it replaces are kept as stale). Raises ValueError with a plain reason. Returns the blocks added and
    replaced, the file's last height and the stored tip's height afterwards."""
    params = chain_params()
    seen = {}
    blocks, checked = [], []
    walker = ChainWalker(chain_rules())
    for key, value in items:
        if key == "block":
            if seen.get("format") != EXPORT_FORMAT:
                raise ValueError(f"not a FedChain export: its format must be {EXPORT_FORMAT!r} and come before the blocks")
            block = _block_data_from_export(len(blocks), value)
            try:
                checked.append(walker.add(block))
            except BlockRejected as rejected:
                raise ValueError(f"{rejected.violation}; nothing was imported") from None
            blocks.append(block)
            continue
        seen[key] = value
        if key == "format" and value != EXPORT_FORMAT:
            raise ValueError(f"not a FedChain export: expected an object with format {EXPORT_FORMAT!r} and a list of blocks")
        if key == "version" and value != EXPORT_VERSION:
            raise ValueError(f"export version {value!r} is not supported (this node reads {EXPORT_VERSION})")
        if key == "params" and value != params.as_dict():
            raise ValueError(f"the file's chain parameters {value} differ from this node's {params.as_dict()}")
    for key in ("format", "version", "params"):
        if key not in seen:
            raise ValueError(f"not a FedChain export: it has no {key!r}")
    if not checked:
        raise ValueError("the file holds no blocks; nothing was imported")

    genesis_ensure()
    with transaction.atomic():
        local = dict(Block.objects.filter(status=MAIN).values_list("height", "hash"))
        fork = next((c.height for c in checked if local.get(c.height) != c.hash_hex), None)
        if fork is None:
            tip = max(local)
            return {"added": 0, "replaced": 0, "file_height": checked[-1].height, "height": tip}
        local_tip = Block.objects.filter(status=MAIN).order_by("-height").first()
        replaced = Block.objects.filter(status=MAIN, height__gte=fork)
        if replaced.exists() and checked[-1].chainwork <= local_tip.chainwork_int:
            raise ValueError(
                f"the chains diverge at height {fork} and the stored chain has at least as much work "
                f"({local_tip.chainwork_int:#x} >= {checked[-1].chainwork:#x}); nothing was imported"
            )
        replaced_count = replaced.count()
        # The file's blocks from the fork on go through fork choice as a peer's would: stored, and the
        # reorganisation (one transaction, one event) made once their branch has more work.
        blocks_receive([PeerBlock(block.header, block.records) for block in blocks[fork:]])
        tip = Block.objects.filter(status=MAIN).order_by("-height").values_list("height", flat=True).first()
    return {"added": len(checked) - fork, "replaced": replaced_count, "file_height": checked[-1].height, "height": tip}
