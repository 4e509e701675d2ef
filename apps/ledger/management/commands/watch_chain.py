import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from apps.core.process import StopRequest
from apps.events.models import Event
from apps.events.services import event_emit
from apps.ledger.watch import ChainWatcher, chain_status_payload

logger = logging.getLogger(__name__)

NOT_CHECKED = 2  # --once's exit status when the check itself failed (1 is an invalid chain)


class Command(BaseCommand):
    help = (
        "Re-check the stored chain about every FEDCHAIN_WATCH_INTERVAL_MS and emit a chain_status event "
        "whenever its validity changes. Runs until interrupted; a check that fails (a busy or unreachable "
        "database) is logged and retried at the next interval."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=settings.FEDCHAIN_WATCH_INTERVAL_MS / 1000, help="seconds")
        parser.add_argument(
            "--once",
            action="store_true",
            help=f"check once and exit: 0 if the chain is valid, 1 if not, {NOT_CHECKED} if it could not be checked",
        )

    def handle(self, *args, interval: float, once: bool, **options):
        if interval <= 0:
            raise CommandError("--interval must be above 0 seconds.")
        self.watcher = ChainWatcher(interval=interval)
        self.last_verdict = None
        if once:
            self.check_once()
            return
        # Its own handlers, as serve's: a watcher started where SIGINT is ignored (a script's background job)
        # still stops on Ctrl-C or SIGTERM, after the check under way.
        stopping = StopRequest()
        while not stopping():
            started = time.monotonic()
            close_old_connections()  # a long-lived process: drop connections past their age or broken
            try:
                self.check_chain()
            except DatabaseError as error:  # e.g. a busy database: try again next time
                logger.warning("chain check failed, retrying: %s", error)
            except Exception:  # a watcher that dies watches nothing: log it and keep going
                logger.exception("chain check failed, retrying")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def check_once(self):
        try:
            report = self.check_chain()
        except DatabaseError as error:
            raise CommandError(f"the chain could not be checked: {error}", returncode=NOT_CHECKED) from None
        except Exception as error:
            logger.exception("chain check failed")
            raise CommandError(
                f"the chain could not be checked: {type(error).__name__}: {error}", returncode=NOT_CHECKED
            ) from None
        if not report.valid:
            raise CommandError(
                f"invalid: {report.first_invalid}; the chain is untrustworthy from height {report.untrusted_from_height}",
                returncode=1,
            )
        self.stdout.write(f"valid up to height {report.last_valid_height}")

    def check_chain(self):
        """One check; a chain_status event when the verdict changed."""
        report = self.watcher.check()
        verdict = (report.valid, report.first_invalid)
        if verdict != self.last_verdict:
            event_emit(type=Event.Type.CHAIN_STATUS, payload=chain_status_payload(report))
            self.last_verdict = verdict
            if report.valid:
                logger.info("chain valid up to height %s", report.last_valid_height)
            else:
                logger.warning("chain INVALID: %s", report.first_invalid)
        return report
