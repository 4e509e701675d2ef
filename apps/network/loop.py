"""The node's network loop (`manage.py run_network`, one per node): keeps in touch with its peers and tells them
what is new.

Each step: every peer not heard from for FEDCHAIN_PEER_POLL_SECONDS is asked for its tip (one small request); a
peer whose tip is not ours, whose last full sync is old or that announced something (its `sync_queued_at`, set
by the protocol's `inv` endpoint) is synced; new main blocks and pending batches are announced to every peer;
rounds waiting to be mined get a shared mining job.

Syncs run here, in a few threads of this process (at most one per peer at a time), not in the task workers: a
worker may be busy mining for many seconds, and a node must hear of a rival's block while its own miner searches,
or its miner keeps searching on a tip the network has left, and its blocks always come second.
"""

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from apps.events.models import Event
from apps.events.services import last_event_seq
from apps.ledger.models import PendingBatch

from .mining import shared_mining_schedule
from .models import Peer
from .services import peer_check, peer_due, peer_sync, peer_sync_request, peers_announce

logger = logging.getLogger(__name__)


def _sync_in_thread(peer_id: int) -> dict | None:
    try:
        peer = Peer.objects.filter(pk=peer_id).first()
        if peer is None:
            return None
        report = peer_sync(peer)
        if report["batches"]:
            shared_mining_schedule()  # now, not at the next step: every moment counts in a race
        return report
    finally:
        connections.close_all()  # this thread's own connections; the pool reuses threads


class NetworkLoop:
    def __init__(self):
        self.seq = last_event_seq()
        self.batch_id = PendingBatch.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.executor = ThreadPoolExecutor(
            max_workers=settings.FEDCHAIN_SYNC_THREADS, thread_name_prefix="peer-sync"
        )
        self.syncing: dict[int, Future] = {}

    def step(self):
        now = timezone.now()
        quiet = now - timedelta(seconds=settings.FEDCHAIN_PEER_POLL_SECONDS)
        for peer in Peer.objects.all():
            if peer.pk in self.syncing:
                continue  # a sync of it is under way, which says hello too
            if peer_due(peer, now) and (peer.last_seen is None or peer.last_seen < quiet) and peer_check(peer):
                peer_sync_request(peer)
        self.syncs_start()
        peers_announce(blocks=self._new_main_blocks()[-16:], batches=self._new_batches())
        shared_mining_schedule()

    def syncs_start(self):
        """Starts a sync of each peer that asked for one and is not being synced already."""
        for peer_id, future in list(self.syncing.items()):
            if future.done():
                del self.syncing[peer_id]
                if future.exception() is not None:
                    logger.warning("sync from peer %s failed", peer_id, exc_info=future.exception())
        waiting = Peer.objects.filter(sync_queued_at__isnull=False).exclude(pk__in=list(self.syncing))
        for peer_id in waiting.values_list("pk", flat=True):
            self.syncing[peer_id] = self.executor.submit(_sync_in_thread, peer_id)

    def _new_main_blocks(self) -> list[str]:
        blocks = []
        events = Event.objects.filter(id__gt=self.seq, type__in=[Event.Type.BLOCK, Event.Type.REORG]).order_by("id")
        for event in events[:500]:
            self.seq = event.id
            if event.type == Event.Type.REORG:
                blocks.append(event.payload["new_tip"]["hash"])
            elif event.payload.get("status") == "main":
                blocks.append(event.payload["hash"])
        return blocks

    def _new_batches(self) -> list[tuple[int, int]]:
        batches = []
        for batch in PendingBatch.objects.filter(id__gt=self.batch_id).order_by("id")[:128]:
            self.batch_id = batch.id
            if batch.status == PendingBatch.Status.PENDING:
                batches.append((batch.experiment_id, batch.round_number))
        return batches

    def close(self, *, wait: bool = True):
        """Stops taking syncs; with `wait`, returns once the ones under way are done."""
        self.executor.shutdown(wait=wait, cancel_futures=True)
