"""Model blobs on disk, content-addressed: BLOB_DIR/<first two hex digits>/<sha256 hex>.

A blob is written to a temporary file in the same directory and renamed into place, so a crash never leaves a
partial blob under its name. Blobs are written before the transaction that refers to them commits: a rolled-back
round leaves unreferenced blobs behind, which is harmless (same content, same name) and never the reverse.

Durability: by default a blob is not fsynced, like the default SQLite database (WAL, synchronous=NORMAL), whose
last commits a power cut may also undo. A blob a power cut loses reads as missing, never as other bytes (reads
check the content hash). FEDCHAIN_BLOB_FSYNC=1 syncs each blob and its directory before the round that names it
commits, for a database that commits durably; it costs a disk flush per blob (about 4 ms each on a virtual disk,
most of a light client's round).
"""

import logging
import os
import re
import threading
from pathlib import Path

from django.conf import settings

from .blobs import content_address

logger = logging.getLogger(__name__)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def blob_path(sha256_hex):
    return Path(_blob_file(sha256_hex))


def _blob_file(sha256_hex):
    # Plain strings: a round writes one blob per client update and pathlib's overhead showed in its profile.
    return os.path.join(settings.BLOB_DIR, sha256_hex[:2], sha256_hex)


def blob_write(data):
    """Stores the bytes (if not already stored intact) and returns their SHA-256 hex."""
    digest = content_address(data)
    if blob_read(digest) is not None:
        return digest
    path = _blob_file(digest)
    directory = os.path.dirname(path)
    # Unique per process and thread: concurrent writers of one blob each rename their own complete copy.
    temporary = os.path.join(directory, f".tmp-{digest[:16]}-{os.getpid()}-{threading.get_ident()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        handle = os.open(temporary, flags, 0o600)
    except FileNotFoundError:  # the blob's directory does not exist yet
        os.makedirs(directory, exist_ok=True)
        handle = os.open(temporary, flags, 0o600)
    durable = settings.FEDCHAIN_BLOB_FSYNC
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(directory)  # makes the rename itself durable
    return digest


def _fsync_directory(directory):
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def blob_read(sha256_hex):
    """The blob's bytes, or None if the name is not a digest, nothing is stored, or what is stored no longer
    hashes to its name (a damaged file is never served as if it were the blob)."""
    if not isinstance(sha256_hex, str) or not _SHA256_HEX.fullmatch(sha256_hex):
        return None
    try:
        with open(_blob_file(sha256_hex), "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return None
    if content_address(data) != sha256_hex:
        logger.warning("blob %s is damaged: its content hashes to %s", sha256_hex, content_address(data))
        return None
    return data
