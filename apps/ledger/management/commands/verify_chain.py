import json

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.watch import chain_verify


def chain_verify_notes() -> list[str]:
    """Lines other apps add to the report (an app config's `chain_verify_notes`): the network's peers that hold
    another chain. Found at run time, so the ledger imports none of them."""
    from django.apps import apps

    return [note for config in apps.get_app_configs() for note in getattr(config, "chain_verify_notes", list)()]


class Command(BaseCommand):
    help = (
        "Re-check the stored chain from its bytes: hashes, links, proof of work, Merkle roots, records, "
        "difficulty, time, FL continuity and signed checkpoints. Exit 0 if valid, 1 naming the first invalid block."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--from", dest="from_height", type=int, default=0, metavar="H", help="check from height H (and the block below it, which it stands on); blocks further down are not checked"
        )

    def handle(self, *args, as_json: bool, from_height: int, **options):
        if from_height < 0:
            raise CommandError("--from must be a height >= 0.")
        try:
            report = chain_verify(from_height=from_height)
        except ValueError as error:
            raise CommandError(str(error)) from None
        notes = chain_verify_notes()
        if as_json:
            self.stdout.write(json.dumps({**report.as_dict(), "notes": notes}, indent=2))
        elif report.valid:
            self.stdout.write(
                f"valid: {report.blocks_checked} blocks checked (heights {report.checked_from_height} to "
                f"{report.last_valid_height}), tip {report.last_valid_hash}, cumulative work {report.last_valid_chainwork:#x}"
            )
        if report.not_checked and not as_json:
            self.stdout.write(f"not checked: {report.not_checked}")
        if not as_json:
            for note in notes:
                self.stdout.write(note)
        if not report.valid:
            raise CommandError(
                f"invalid: {report.first_invalid}; the chain is untrustworthy from height "
                f"{report.untrusted_from_height} (valid below it up to height {report.last_valid_height})",
                returncode=1,
            )
