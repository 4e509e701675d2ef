"""manage.py chain_repair: restores this node's chain from its peers when it fails verification (tampered rows,
a truncation) or leaves theirs (a re-mined tail). The blocks replaced are kept in a file, never just lost."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.ledger.watch import chain_verify
from apps.network.services import RepairError, chain_repair


class Command(BaseCommand):
    help = "Restore the chain (and its blobs) from the best peer where this node's chain fails or leaves theirs."

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true")

    def handle(self, *args, as_json, **options):
        report = chain_verify()
        trusted_below = report.untrusted_from_height
        if not report.valid:
            self.stdout.write(f"this node's chain is untrustworthy from height {trusted_below}: {report.first_invalid}")
        try:
            result = chain_repair(trusted_below=trusted_below, quarantine_dir=settings.DATA_DIR / "set-aside")
        except RepairError as error:
            raise CommandError(str(error)) from None
        after = chain_verify()
        result["valid"] = after.valid
        result["height"] = after.last_valid_height
        if as_json:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"repaired from {result['peer']}: kept heights 0..{result['kept']}, set aside {result['set_aside']} "
                f"blocks{' into ' + result['file'] if result['file'] else ''}, fetched {result.get('blocks', 0)} blocks "
                f"and {result['blobs']} blobs; the chain now {'verifies' if after.valid else 'still fails'} "
                f"(tip {after.last_valid_height})"
            )
        if not after.valid:
            raise CommandError(f"still invalid after the repair: {after.first_invalid}")
