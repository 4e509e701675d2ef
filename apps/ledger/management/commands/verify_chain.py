import json

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.watch import chain_verify


class Command(BaseCommand):
    help = (
        "Re-check the stored chain from its bytes: hashes, links, proof of work, Merkle roots, records, "
        "difficulty, time, FL continuity and signed checkpoints. Exit 0 if valid, 1 naming the first invalid block."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--from", dest="from_height", type=int, default=0, metavar="H", help="start checking at height H"
        )

    def handle(self, *args, as_json: bool, from_height: int, **options):
        if from_height < 0:
            raise CommandError("--from must be a height >= 0.")
        try:
            report = chain_verify(from_height=from_height)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        elif report.valid:
            self.stdout.write(
                f"valid: {report.blocks_checked} blocks checked, tip {report.height} {report.tip}, "
                f"cumulative work {report.chainwork:#x}"
            )
        if not report.valid:
            raise CommandError(f"invalid: {report.first_invalid}", returncode=1)

