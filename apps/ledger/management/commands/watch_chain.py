import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from apps.events.models import Event
from apps.events.services import event_emit
from apps.ledger.services import ChainWatcher, chain_status_payload

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Re-check the stored chain about every FEDCHAIN_WATCH_INTERVAL_MS and emit a chain_status event "
        "whenever its validity changes. Runs until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=settings.FEDCHAIN_WATCH_INTERVAL, help="seconds")
        parser.add_argument("--once", action="store_true", help="check once, print the verdict and exit")

    def handle(self, *args, interval: float, once: bool, **options):
        watcher = ChainWatcher()
        last_verdict = None
        try:
            while True:
                started = time.monotonic()
                close_old_connections()
                try:
                    report = watcher.check()
                except DatabaseError as error:  # e.g. a busy database: try again next time
                    logger.warning("chain check failed: %s", error)
                else:
                    verdict = (report.valid, report.first_invalid)
                    if verdict != last_verdict:
                        event_emit(type=Event.Type.CHAIN_STATUS, payload=chain_status_payload(report))
                        last_verdict = verdict
                        if report.valid:
                            logger.info("chain valid up to height %s", report.height)
                        else:
                            logger.warning("chain INVALID: %s", report.first_invalid)
                    if once:
                        self.stdout.write(f"valid up to height {report.height}" if report.valid else f"invalid: {report.first_invalid}")
                        return
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            return
