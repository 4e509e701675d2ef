import json
import sys

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.exchange import chain_import


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
                data = json.load(sys.stdin)
            else:
                with open(file, encoding="utf-8") as source:
                    data = json.load(source)
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror or error}") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise CommandError(f"{file} is not valid JSON: {error}") from None
        except RecursionError:
            raise CommandError(f"{file} is not a chain export: its JSON is nested too deeply") from None
        try:
            result = chain_import(data)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"imported {result['added']} blocks (replacing {result['replaced']}); the chain's tip is now at "
            f"height {result['height']}"
        )
