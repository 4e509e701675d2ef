import sys

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.exchange import chain_import_file


class Command(BaseCommand):
    help = (
        "Import a chain written by export_chain. Every block is validated first and nothing is written if any "
        "is invalid; where the file diverges from the stored chain, the chain with more work wins."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="an export_chain file, or '-' for standard input")

    def handle(self, *args, file: str, **options):
        try:
            if file == "-":
                result = chain_import_file(sys.stdin.buffer)
            else:
                with open(file, "rb") as source:
                    result = chain_import_file(source)
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror or error}") from None
        except ValueError as error:
            raise CommandError(f"{file}: {error}") from None
        if result["added"] == 0:
            self.stdout.write(
                f"nothing to import: the file's blocks (up to height {result['file_height']}) are already on the "
                f"chain; the chain's tip stays at height {result['height']}"
            )
        else:
            self.stdout.write(
                f"imported {result['added']} blocks (replacing {result['replaced']}); the chain's tip is now at "
                f"height {result['height']}"
            )
