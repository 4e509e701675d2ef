"""Model blobs on disk, content-addressed: BLOB_DIR/<first two hex digits>/<sha256 hex>.

A blob is written to a temporary file in the same directory and renamed into place, so a crash never leaves a
partial blob under its name. Blobs are written before the transaction that refers to them commits: a rolled-back
round leaves unreferenced blobs behind, which is harmless (same content, same name) and never the reverse.
"""

import logging
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings

from .blobs import content_address

logger = logging.getLogger(__name__)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def blob_path(sha256_hex):
    return Path(settings.BLOB_DIR) / sha256_hex[:2] / sha256_hex


def blob_write(data):
    """Stores the bytes (if not already stored intact) and returns their SHA-256 hex."""
    digest = content_address(data)
    path = blob_path(digest)
    if blob_read(digest) is not None:
        return digest
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def blob_read(sha256_hex):
    """The blob's bytes, or None if the name is not a digest, nothing is stored, or what is stored no longer
    hashes to its name (a damaged file is never served as if it were the blob)."""
    if not isinstance(sha256_hex, str) or not _SHA256_HEX.fullmatch(sha256_hex):
        return None
    try:
        data = blob_path(sha256_hex).read_bytes()
    except FileNotFoundError:
        return None
    if content_address(data) != sha256_hex:
        logger.warning("blob %s is damaged: its content hashes to %s", sha256_hex, content_address(data))
        return None
    return data
