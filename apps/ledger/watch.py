"""Watching the stored chain: re-checks in full on demand (`chain_verify`, `manage.py verify_chain`) and cheaply
and often (`ChainWatcher`, `manage.py watch_chain`), recomputing everything from the stored bytes.

A chain also knows how far it reached. Deleting its newest blocks leaves traces a database writer has to find
and remove one by one: the checkpoints signed for the heights above the new tip, the `block` events of the
outbox naming blocks that are no longer stored, and the pending batches marked mined whose block is gone.
`chain_reach_violation` reads them; the report then says the chain is untrustworthy from the first missing
height (rule `height`). Whoever can also delete all of those can truncate the chain unseen by this node alone:
the other nodes of the network still hold it.

`chain_verify`'s report (rules.ChainReport) is what other apps call to learn from which height the local chain
cannot be trusted (`untrusted_from_height`) and what was found there (`first_invalid`).
"""

import logging
import time

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from apps.core.db import read_snapshot
from apps.core.keys import node_public_key
from apps.events.models import Event

from .checkpoint import checkpoint_valid
from .models import Block, ChainChange, Checkpoint, PendingBatch, Record
from .reads import (
    ExperimentsBelow,
    BLOCK_COLUMNS,
    MAIN,
    RECORD_COLUMNS,
    chain_rules,
    checkpoints_by_height,
    experiment_lookup,
    records_by_block,
    stored_block_data,
    stored_blocks,
    tip_summary,
)
from .rules import BlockRejected, ChainReport, ChainWalker, Violation
from .store import genesis_ensure
from .triggers import triggers_installed

logger = logging.getLogger(__name__)


def _stored_tip_height() -> int | None:
    return Block.objects.filter(status=MAIN).aggregate(top=Max("height"))["top"]


def chain_reach_violation(tip_height: int | None, *, events_after: int = 0) -> Violation | None:
    """A `height` violation at the first missing height when something stored says the main chain reached
    beyond `tip_height` (None: no main block); None when nothing does. Block events are read from id
    `events_after` on (0: all of them), so a watcher can read only the new ones."""
    above = -1 if tip_height is None else tip_height
    missing = above + 1
    checkpoint = (
        Checkpoint.objects.filter(height__gt=above).order_by("-height").values_list("height", "hash", "signature").first()
    )
    if checkpoint is not None and not Block.objects.filter(status=MAIN, height=checkpoint[0], hash=checkpoint[1]).exists():
        # (Its block stored meanwhile, with the checkpoint in one transaction: the chain grew, it was not cut.)
        height, hash_hex, signature = checkpoint
        signed = checkpoint_valid(node_public_key(), height, hash_hex, signature)
        how = "signed by this node's key" if signed else "whose signature does not verify"
        return Violation(
            missing, "height",
            f"block {missing} is missing: a checkpoint {how} names block {hash_hex} at height {height}, above the "
            f"stored tip ({above}); the chain was truncated",
        )
    batch = (
        PendingBatch.objects.filter(status=PendingBatch.Status.MINED, block__isnull=True)
        .values_list("experiment_id", "round_number").order_by("id").first()
    )
    if batch is not None:
        return Violation(
            missing, "height",
            f"block {missing} is missing: experiment {batch[0]} round {batch[1]} was mined, but its block is no "
            f"longer stored; the chain was truncated",
        )
    # Only since the last reorganisation or repair: those take blocks out of the chain on purpose (and say so).
    last_reorg = Event.objects.filter(type=Event.Type.REORG).aggregate(top=Max("id"))["top"] or 0
    events = (
        Event.objects.filter(
            type=Event.Type.BLOCK, id__gt=max(events_after, last_reorg), payload__status="main", payload__height__gt=above
        )
        .order_by("-id").values_list("payload", flat=True)[:100]
    )
    named = {payload.get("hash"): payload.get("height") for payload in events if isinstance(payload, dict)}
    gone = set(named) - set(Block.objects.filter(hash__in=[h for h in named if isinstance(h, str)]).values_list("hash", flat=True))
    if gone:
        hash_hex = max(gone, key=lambda h: named[h] if isinstance(named[h], int) else -1)
        return Violation(
            missing, "height",
            f"block {missing} is missing: the outbox announced block {hash_hex} at height {named[hash_hex]}, which "
            f"is no longer stored; the chain was truncated",
        )
    return None


def _walker_at(height: int) -> ChainWalker:
    """A walker ready to check the stored block at `height` on the stored chain below it. Raises
    BlockRejected, naming the height below, when that block is missing or its stored summary unreadable."""
    walker = ChainWalker(chain_rules(checkpoints=True))
    if height > 0:
        parent = Block.objects.filter(status=MAIN, height=height - 1).first()
        if parent is None:
            raise BlockRejected("height", f"block {height - 1} is missing", height - 1)
        walker.tip = tip_summary(parent)
        walker.experiments = ExperimentsBelow(height)
    return walker


def _check_range(start: int, stop: int) -> tuple[Violation | None, int]:
    """(first violation, blocks checked) of the stored main blocks start..stop (inclusive), each checked by
    every rule against the stored chain below `start`. A height without a block is a violation."""
    try:
        walker = _walker_at(start)
    except BlockRejected as rejected:
        return rejected.violation, 0
    for block in stored_blocks(start):
        if block.height > stop:
            break
        try:
            walker.add(block)
        except BlockRejected as rejected:
            return rejected.violation, walker.blocks_checked
    reached = walker.tip.height if walker.tip else -1
    if reached < stop:
        return Violation(reached + 1, "height", f"block {reached + 1} is missing"), walker.blocks_checked
    return None, walker.blocks_checked


def chain_check_through(height: int) -> Violation | None:
    """The first violation among the stored main blocks 0..`height` (every rule, from the genesis block up), or
    None: whether what a block at `height` stands on holds. Costs a walk of `height` blocks."""
    return _check_range(0, height)[0]


def chain_verify(*, from_height: int = 0) -> ChainReport:
    """Re-checks the stored main chain from `from_height` (default: all of it, and then whether it reached
    further: see chain_reach_violation), recomputing every hash, root, target and rule from the stored bytes,
    signed checkpoints included. Checking from a height also checks the block below it (what the check stands
    on) and says what it did not check. Raises ValueError for a height above the tip."""
    genesis_ensure()
    with read_snapshot():  # blocks stored or deleted meanwhile are seen whole or not at all
        tip = _stored_tip_height()
        if tip is not None and from_height > tip + 1:
            raise ValueError(f"the chain's tip is at height {tip}: there is no block at height {from_height} to check")
        start = max(from_height - 1, 0)  # the block it stands on is checked too
        context = {"checked_from_height": start, "stored_tip_height": tip}
        if start > 0:
            context["not_checked"] = (
                f"blocks 0 to {start - 1}: checking from height {from_height} trusts the chain below block {start}, "
                "which only a full check (without --from) re-derives"
            )
        try:
            walker = _walker_at(start)
        except BlockRejected as rejected:
            return ChainWalker(chain_rules()).report(rejected.violation, **context)
        for block in stored_blocks(start):
            try:
                walker.add(block)
            except BlockRejected as rejected:
                return walker.report(rejected.violation, **context)
        if walker.tip is None:
            nothing = Violation(0, "genesis", "the chain has no blocks, not even the genesis block")
            return walker.report(nothing, **context)
        return walker.report(chain_reach_violation(walker.tip.height), **context)


class ChainWatcher:
    """Re-checks the stored chain often at a cost that does not grow with it (`manage.py watch_chain`).

    - On its first check: the whole chain in full (chain_verify).
    - Then each check reads the rows the database triggers (triggers.py) added to the change log since the
      last one and re-checks, by every rule, just the blocks they touch and each one's successor (a new block
      at the tip is one such block); then whether the chain still reaches as far as it did
      (chain_reach_violation, reading only new outbox events).
    - A full pass in slices backs that up against writes the triggers do not see (a writer who drops them or
      deletes log rows, a file edited outside the database): each check walks the chain from the genesis block
      a little further, spending at most FEDCHAIN_WATCH_FULL_PASS_PERCENT of the interval, and starts over at
      the tip.
    A height found invalid stays reported until a check of it passes; then everything above it is checked
    again. The watcher also remembers the most work it has seen verified: a chain whose work went down (its
    tail deleted with every trace) is reported while it runs.
    """

    PRUNE_SECONDS = 600  # change-log rows older than this are deleted (every reader has long seen them)
    CHANGES_PER_CHECK = 10_000  # more new log rows than this: re-check everything instead
    SWEEP_MAX_BLOCKS = 50  # read at most this many blocks at once in the full pass

    def __init__(self, *, interval: float | None = None, full_pass_share: float | None = None):
        interval = settings.FEDCHAIN_WATCH_INTERVAL_MS / 1000 if interval is None else interval
        share = settings.FEDCHAIN_WATCH_FULL_PASS_PERCENT / 100 if full_pass_share is None else full_pass_share
        self.slice_seconds = interval * share
        self.started = False
        self.bad: dict[int, Violation] = {}
        self.reach: Violation | None = None
        self.best: tuple[int, int] = (0, -1)  # (chainwork, height) of the best chain verified valid
        self.last_change = 0
        self.last_event = 0
        self.tip: int | None = None
        self.sweep: ChainWalker | None = None
        self.sweep_next = 0
        self.sweep_block_seconds = 0.002  # a first guess at what checking one block costs; measured from then on
        self.full_passes = 0  # completed slice-by-slice passes (for tests and benchmarks)
        self.pruned_at = time.monotonic()
        self.triggers_ok = True
        self.report: ChainReport | None = None

    # --- the check -----------------------------------------------------------------------------------

    def check(self) -> ChainReport:
        try:
            return self._check()
        except Exception:
            self.started = False  # start afresh (a full check) next time
            raise

    def _check(self) -> ChainReport:
        if not self.started:
            genesis_ensure()
        with read_snapshot():  # a concurrent write is seen whole or not at all
            checked = self._start() if not self.started else self._follow_changes()
            checked += self._sweep_slice()
            report = self._report(checked)
        self._prune()
        return report

    def _start(self) -> int:
        self.last_change = ChainChange.objects.aggregate(top=Max("id"))["top"] or 0
        self.last_event = Event.objects.aggregate(top=Max("id"))["top"] or 0
        report = chain_verify()
        self.tip = report.stored_tip_height
        self.bad = {}
        self.reach = None
        if report.first_invalid is not None:
            if report.first_invalid.rule == "height" and report.first_invalid.height == (self.tip or -1) + 1:
                self.reach = report.first_invalid
            else:
                self.bad[report.first_invalid.height] = report.first_invalid
        self._sweep_restart()
        self.started = True
        self._triggers_check()
        return report.blocks_checked

    def _follow_changes(self) -> int:
        changes = list(
            ChainChange.objects.filter(id__gt=self.last_change)
            .order_by("id").values_list("id", "source", "operation", "block_row", "height")[: self.CHANGES_PER_CHECK + 1]
        )
        events_after = self.last_event
        newest_event = Event.objects.aggregate(top=Max("id"))["top"] or 0
        if not changes and newest_event == events_after:
            return 0
        if len(changes) > self.CHANGES_PER_CHECK or any(op == "TRUNCATE" for _, _, op, _, _ in changes):
            logger.info("many changes or a truncated table: re-checking the whole chain")
            return self._start()
        if changes and changes[0][0] != self.last_change + 1:
            # Ids skipped: log rows deleted, or (PostgreSQL) ids of rolled-back transactions. The full pass
            # starts over, so whatever those rows said is re-derived from the chain itself.
            self._sweep_restart()
        if changes:
            self.last_change = changes[-1][0]
        if newest_event != events_after and Event.objects.filter(id__gt=events_after, type=Event.Type.REORG).exists():
            self.best = (0, -1)  # a reorganisation or a repair may lower the chain's work on purpose
        self.last_event = newest_event
        heights = {height for _, source, _, _, height in changes if source in ("block", "checkpoint") and height is not None}
        block_rows = {row for _, source, _, row, _ in changes if source in ("record", "batch") and row is not None}
        if block_rows:
            heights |= set(Block.objects.filter(id__in=block_rows, status=MAIN).values_list("height", flat=True))
        self.tip = _stored_tip_height()
        checked = self._recheck(heights)
        if self.reach is None or changes:
            # New outbox events only: the full pass reads all of them each time it reaches the tip.
            self.reach = chain_reach_violation(self.tip, events_after=events_after)
        if heights and min(heights) < self.sweep_next:
            self._sweep_restart()  # what it walked may have changed under it
        return checked

    def _recheck(self, heights: set[int]) -> int:
        """Checks each touched height and the one above it (whose link and summary depend on it), in runs of
        consecutive heights; a cleared height re-checks everything above it."""
        if not heights:
            return 0
        top = self.tip if self.tip is not None else -1
        wanted = sorted({h for height in heights for h in (height, height + 1) if 0 <= h <= top} | {
            h for h in heights if h <= top and h in self.bad})
        for height in [h for h in self.bad if h > top]:
            del self.bad[height]  # above the tip now: the reach check speaks for it
        checked = 0
        runs = []
        for height in wanted:
            if runs and height == runs[-1][1] + 1:
                runs[-1][1] = height
            else:
                runs.append([height, height])
        for start, stop in runs:
            cleared = [h for h in self.bad if start <= h <= stop]
            for height in cleared:
                del self.bad[height]
            if cleared:
                stop = top  # a repaired height: whatever stood on it is checked again
            violation, count = _check_range(start, stop)
            checked += count
            if violation is not None:
                self.bad[violation.height] = violation
        return checked

    # --- the full pass in slices ---------------------------------------------------------------------

    def _sweep_restart(self):
        self.sweep = ChainWalker(chain_rules(checkpoints=True))
        self.sweep_next = 0

    def _sweep_slice(self) -> int:
        """Walks the chain from the genesis block a little further, for at most about slice_seconds: blocks are
        read a few at a time, as many as the cost measured so far says fit in what is left of the slice."""
        if self.slice_seconds <= 0 or self.tip is None:
            return 0
        started = time.perf_counter()
        deadline = started + self.slice_seconds
        checked = 0
        while (left := deadline - time.perf_counter()) > 0:
            count = max(1, min(self.SWEEP_MAX_BLOCKS, int(left / self.sweep_block_seconds)))
            blocks = list(
                Block.objects.filter(status=MAIN, height__gte=self.sweep_next).order_by("height").values(*BLOCK_COLUMNS)[:count]
            )
            if not blocks:
                self.full_passes += 1
                self.reach = chain_reach_violation(self.tip)
                self._sweep_restart()
                break
            rows = Record.objects.filter(block_id__in=[b["id"] for b in blocks]).order_by("block_id", "position")
            records = records_by_block(rows.values_list(*RECORD_COLUMNS))
            checkpoints = checkpoints_by_height(height__in=[b["height"] for b in blocks])
            for block in blocks:
                data = stored_block_data(block, records.get(block["id"], []), checkpoints.get(block["height"]))
                try:
                    self.sweep.add(data)
                except BlockRejected as rejected:
                    # Confirmed by a check on the stored chain as it is now before it is reported.
                    violation, _ = _check_range(rejected.height, rejected.height)
                    if violation is not None:
                        self.bad[violation.height] = violation
                    self._sweep_restart()
                    return checked
                checked += 1
                self.sweep_next = block["height"] + 1
        if checked:  # what a block costs (reading included), smoothed: the next slice's batch size
            spent = (time.perf_counter() - started) / checked
            self.sweep_block_seconds = 0.7 * self.sweep_block_seconds + 0.3 * spent
        return checked

    # --- upkeep and the verdict ----------------------------------------------------------------------

    def _prune(self):
        if time.monotonic() - self.pruned_at < 60:
            return
        self.pruned_at = time.monotonic()
        cutoff = timezone.now() - timezone.timedelta(seconds=self.PRUNE_SECONDS)
        ChainChange.objects.filter(id__lte=self.last_change, at__lt=cutoff).delete()
        self._triggers_check()

    def _triggers_check(self):
        installed = triggers_installed(connection)
        if not installed and self.triggers_ok:
            logger.warning(
                "the triggers that log writes to the ledger's tables are missing: only the full pass notices "
                "changes to old blocks now. `manage.py migrate` puts them back."
            )
        self.triggers_ok = installed

    def _report(self, checked: int) -> ChainReport:
        violations = [*self.bad.values(), *([self.reach] if self.reach else [])]
        first = min(violations, key=lambda v: v.height) if violations else None
        tip_row = Block.objects.filter(status=MAIN).order_by("-height").values("height", "hash", "chainwork").first()
        work = int(tip_row["chainwork"], 16) if tip_row and _hex(tip_row["chainwork"]) else 0
        if first is None and tip_row is not None and work < self.best[0]:
            first = Violation(
                tip_row["height"] + 1, "height",
                f"blocks {tip_row['height'] + 1} to {self.best[1]} were verified earlier and are gone (the chain's "
                "work went down)",
            )
        elif first is None and tip_row is not None:
            self.best = max(self.best, (work, tip_row["height"]))
        if first is None:
            last = tip_row
        else:
            last = Block.objects.filter(status=MAIN, height=first.height - 1).values("height", "hash", "chainwork").first()
        self.report = ChainReport(
            valid=first is None,
            last_valid_height=last["height"] if last else -1,
            last_valid_hash=last["hash"] if last else None,
            last_valid_chainwork=int(last["chainwork"], 16) if last and _hex(last["chainwork"]) else 0,
            blocks_checked=checked,
            first_invalid=first,
            stored_tip_height=self.tip,
        )
        return self.report


def _hex(value) -> bool:
    try:
        int(value, 16)
    except (TypeError, ValueError):
        return False
    return True


def chain_status_payload(report: ChainReport) -> dict:
    """A chain_status event: the report, with `height` and `tip` the stored tip's (as chain_status() says)."""
    return {
        **report.as_dict(),
        "height": report.stored_tip_height,
        "tip": report.last_valid_hash if report.valid else None,
        "checked_at": timezone.now().isoformat(),
    }
