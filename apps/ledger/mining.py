"""Mining (in a worker process): putting one pending batch on the chain while the chain moves.

The nonce search runs in this process (`block_mine`), and appending is atomic: a block that loses the race for
its height is kept as stale. Once another block lands on the tip, searching on the old tip is wasted, so the
search stops within about a second and starts over on the new tip; a search has no memory, so nothing is lost
by starting over.
"""

import time

from apps.core.process import process_name
from apps.events.models import Event
from apps.events.services import event_emit

from .models import Block, PendingBatch
from .rules import BlockRejected
from .reads import batch_minable
from .store import block_mine, main_tip

TIP_CHECK_SECONDS = 1.0
# A batch whose previous round a reorganisation took off the main chain waits for it to be mined again.
UNMINABLE_WAIT_SECONDS = 0.5
PROGRESS_SECONDS = 1.0


class _TipWatch:
    """should_stop for one search: true once the caller says so or the main tip is no longer `tip`. The search
    polls it every few milliseconds; the database is asked at most once per TIP_CHECK_SECONDS."""

    def __init__(self, tip_hash, should_stop):
        self.tip_hash = tip_hash
        self.should_stop = should_stop
        self.next_check = time.monotonic() + TIP_CHECK_SECONDS

    def __call__(self):
        if self.should_stop is not None and self.should_stop():
            return True
        now = time.monotonic()
        if now < self.next_check:
            return False
        self.next_check = now + TIP_CHECK_SECONDS
        return main_tip().hash != self.tip_hash


def batch_mine_to_chain(*, batch, should_stop=None, on_progress=None):
    """Mines `batch` until a main-chain block holds it and returns that block (which another miner may have
    mined); None once should_stop() is true. Raises BlockRejected when the batch cannot make a valid block."""
    while True:
        batch.refresh_from_db()
        if batch.status == PendingBatch.Status.MINED:
            return batch.block
        if should_stop is not None and should_stop():
            return None
        if not batch_minable(batch):
            time.sleep(UNMINABLE_WAIT_SECONDS)
            continue
        try:
            stop = _TipWatch(main_tip().hash, should_stop)
            block = block_mine(batch=batch, should_stop=stop, on_progress=on_progress)
        except BlockRejected as rejected:
            batch.refresh_from_db()
            if batch.status == PendingBatch.Status.MINED:  # another miner appended the very same block
                return batch.block
            if rejected.rule == "fl-continuity" and not batch_minable(batch):
                continue  # the chain moved under the search (a reorganisation): wait for the previous round
            raise
        if block is not None and block.status == Block.Status.MAIN:
            return block
        # Stopped (the tip moved), or the block lost its height to another: look again.


class MiningProgress:
    """on_progress for block_mine: a `mining_progress` event about once a second (nonces tried, the work expected,
    hash rate, height), each in its own short transaction."""

    def __init__(self, batch, *, every=PROGRESS_SECONDS):
        self.batch = batch
        self.every = every
        self.last = time.monotonic()
        self.worker = process_name()

    def __call__(self, report):
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        event_emit(
            type=Event.Type.MINING_PROGRESS,
            payload={
                "experiment": self.batch.experiment_id,
                "round": self.batch.round_number,
                "height": report["height"],
                "nonces": report["nonces"],
                "expected": report["expected"],
                "hash_rate": report["hash_rate"],
                "worker": self.worker,
            },
            experiment_id=self.batch.experiment_id,
        )
