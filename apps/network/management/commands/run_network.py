"""The node's network loop (apps.network.loop): syncs from its peers, announces to them, mines their rounds.
Stops on SIGINT or SIGTERM, once the syncs under way are done."""

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from apps.core.process import StopRequest
from apps.network.loop import NetworkLoop
from apps.network.services import peers_from_settings

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Keep in touch with this node's peers: sync from them, announce to them, mine their rounds."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args, once, **options):
        stopping = StopRequest()
        peers_from_settings()
        loop = NetworkLoop()
        while not stopping():
            close_old_connections()
            try:
                loop.step()
            except DatabaseError:
                logger.warning("network loop: database error; trying again", exc_info=True)
            if once:
                break
            time.sleep(settings.FEDCHAIN_NETWORK_POLL_MS / 1000)
        loop.close(wait=True)
