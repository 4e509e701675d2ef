import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.exchange import chain_export


class Command(BaseCommand):
    help = (
        "Write the main chain to FILE as JSON (per block: height, hash, header_hex, records) so that anyone "
        "can re-check it with SHA-256 and an RFC 8785 encoder. FILE '-' writes to standard output."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")

    def handle(self, *args, file: str, **options):
        export = chain_export()
        text = json.dumps(export, indent=1, ensure_ascii=False) + "\n"
        if file == "-":
            self.stdout.write(text, ending="")
            return
        path = Path(file)
        if not path.parent.is_dir():
            raise CommandError(f"cannot write {file}: the directory {path.parent} does not exist.")
        # Written beside the target and renamed into place: a crash never leaves half an export.
        out = None
        try:
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as out:
                out.write(text)
            os.replace(out.name, path)
        except OSError as error:
            if out is not None:
                Path(out.name).unlink(missing_ok=True)
            raise CommandError(f"cannot write {file}: {error.strerror or error}") from None
        self.stdout.write(f"exported {len(export['blocks'])} blocks to {file}")
