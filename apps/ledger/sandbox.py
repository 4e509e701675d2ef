"""A sandbox copy of the newest main blocks, checked in memory by the chain's own rules: it shows what tampering
does to a chain (the first invalid block named, and the rule it breaks) without writing anything.

The copy is read once per check from the stored blocks, at most SANDBOX_BLOCKS of them; a tampered record is
changed in the copy only. Nothing here writes to the database.
"""

import json
from dataclasses import replace
from itertools import islice

from .models import Block
from .records import GLOBAL_MODEL, canonical_bytes
from .rules import ChainWalker, verify_blocks
from .reads import chain_rules, experiments_before, stored_blocks, tip_summary

SANDBOX_BLOCKS = 64
CLAIMED_ACCURACY = 0.999


class SandboxError(ValueError):
    pass


def sandbox_window():
    """(first, last) heights of the blocks a sandbox copy holds; None for a chain with no block but genesis."""
    tip = Block.objects.filter(status=Block.Status.MAIN).order_by("-height").values_list("height", flat=True).first()
    if not tip:
        return None
    return max(0, tip - SANDBOX_BLOCKS + 1), tip


def _tampered(records, height):
    """The block's records with its global model's claimed accuracy raised, and what was changed."""
    parsed = [json.loads(body) for body in records]
    position = next((i for i, record in enumerate(parsed) if record.get("type") == GLOBAL_MODEL), None)
    if position is None:
        raise SandboxError(f"block {height} records no global model (the genesis block records no round)")
    record = parsed[position]
    before = record.get("accuracy")
    record["accuracy"] = CLAIMED_ACCURACY
    changed = list(records)
    changed[position] = canonical_bytes(record)
    what = {"height": height, "record": position, "field": "accuracy", "before": before, "after": CLAIMED_ACCURACY}
    return changed, what


def sandbox_check(*, tamper_height=None):
    """Copies the newest blocks, changes one record of block `tamper_height` in the copy if asked, and checks
    the copy with the chain's rules. Returns {from_height, to_height, tampered, report}."""
    window = sandbox_window()
    if window is None:
        raise SandboxError("The chain holds only its genesis block: mine a round first (start an experiment).")
    first, last = window
    if tamper_height is not None and not first <= tamper_height <= last:
        raise SandboxError(f"the sandbox copy holds blocks {first} to {last}; block {tamper_height} is not in it")
    walker = ChainWalker(chain_rules())
    if first > 0:
        walker.tip = tip_summary(Block.objects.get(status=Block.Status.MAIN, height=first - 1))
        walker.experiments = experiments_before(first)
    copy = []
    tampered = None
    for block in islice(stored_blocks(first), last - first + 1):
        # The copy is the block's bytes alone: its header and its records, as an exported chain carries them.
        block = replace(block, stored=None, checkpoint=None)
        if block.height == tamper_height:
            records, tampered = _tampered(block.records, block.height)
            block = replace(block, records=records)
        copy.append(block)
    report = verify_blocks(copy, walker)
    return {"from_height": first, "to_height": last, "tampered": tampered, "report": report.as_dict()}
