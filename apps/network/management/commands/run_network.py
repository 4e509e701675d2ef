"""The node's network loop: keeps in touch with its peers and tells them what is new.

It only looks and enqueues: each peer not heard from for FEDCHAIN_PEER_POLL_SECONDS is asked for its tip (one
small request), and gets a sync task (the workers fetch and validate) when its tip is not ours or its last full
sync is old; new main blocks and pending batches are announced to every peer, and rounds
waiting to be mined get a shared mining job. Stops on SIGINT or SIGTERM.
"""

import logging
import signal
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from apps.events.models import Event
from apps.events.services import last_event_seq
from apps.ledger.models import PendingBatch
from apps.network.mining import shared_mining_schedule
from apps.network.models import Peer
from apps.network.services import peer_check, peer_due, peer_sync_request, peers_announce, peers_from_settings

logger = logging.getLogger(__name__)


class NetworkLoop:
    def __init__(self):
        self.seq = last_event_seq()
        self.batch_id = PendingBatch.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def step(self):
        now = timezone.now()
        quiet = now - timedelta(seconds=settings.FEDCHAIN_PEER_POLL_SECONDS)
        for peer in Peer.objects.all():
            if peer_due(peer, now) and (peer.last_seen is None or peer.last_seen < quiet) and peer_check(peer):
                peer_sync_request(peer)
        blocks = []
        for event in Event.objects.filter(id__gt=self.seq, type__in=[Event.Type.BLOCK, Event.Type.REORG]).order_by("id")[:500]:
            self.seq = event.id
            if event.type == Event.Type.REORG:
                blocks.append(event.payload["new_tip"]["hash"])
            elif event.payload.get("status") == "main":
                blocks.append(event.payload["hash"])
        fresh = PendingBatch.objects.filter(id__gt=self.batch_id).order_by("id")[:128]
        batches = []
        for batch in fresh:
            self.batch_id = batch.id
            if batch.status == PendingBatch.Status.PENDING:
                batches.append((batch.experiment_id, batch.round_number))
        peers_announce(blocks=blocks[-16:], batches=batches)
        shared_mining_schedule()


class Command(BaseCommand):
    help = "Keep in touch with this node's peers: sync from them, announce to them, mine their rounds."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args, once, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        peers_from_settings()
        loop = NetworkLoop()
        while not stopping:
            close_old_connections()
            try:
                loop.step()
            except DatabaseError:
                logger.warning("network loop: database error; trying again", exc_info=True)
            if once:
                break
            time.sleep(settings.FEDCHAIN_NETWORK_POLL_MS / 1000)
