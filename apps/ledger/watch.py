"""Watching the stored chain: re-checks in full on demand (`chain_verify`, `manage.py verify_chain`) and cheaply
and often (`ChainWatcher`, `manage.py watch_chain`), recomputing everything from the stored bytes."""

from django.utils import timezone

from .models import Block, Record
from .reads import (
    BLOCK_COLUMNS,
    MAIN,
    RECORD_COLUMNS,
    chain_rules,
    checkpoints_by_height,
    experiments_before,
    records_by_block,
    stored_block_data,
    stored_blocks,
    tip_summary,
)
from .rules import BlockRejected, ChainReport, ChainWalker, verify_blocks
from .store import genesis_ensure

def chain_verify(*, from_height: int = 0) -> ChainReport:
    """Re-checks the stored main chain from `from_height` (default: all of it), recomputing every hash, root,
    target and rule from the stored bytes, signed checkpoints included. The report names the first invalid
    height, rule and a plain message."""
    genesis_ensure()
    walker = ChainWalker(chain_rules(checkpoints=True))
    if from_height > 0:
        start = Block.objects.filter(status=MAIN, height=from_height - 1).first()
        if start is None:
            raise ValueError(f"there is no main block at height {from_height - 1} to start after")
        walker.tip = tip_summary(start)
        walker.experiments = experiments_before(from_height)
    return verify_blocks(stored_blocks(from_height), walker)


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
        blocks = list(Block.objects.filter(status=MAIN).order_by("height").values(*BLOCK_COLUMNS))
        rows = Record.objects.filter(block__status=MAIN).order_by("block_id", "position")
        records = records_by_block(rows.values_list(*RECORD_COLUMNS))
        checkpoints = checkpoints_by_height()
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
            self.walker = ChainWalker(chain_rules(checkpoints=True))
            self.fingerprints = []
            new_rows = rows
        violation = None
        for fingerprint, block, block_records, checkpoint in new_rows:
            try:
                self.walker.add(stored_block_data(block, block_records, checkpoint))
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
