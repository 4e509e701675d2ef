"""Model blobs in the database, content-addressed: a Blob row's name is the SHA-256 of its bytes.

Rows, not files, so that a round's blobs commit in the round's own transaction, with the Round, its ClientUpdates
and its ledger batch: a round is never recorded without its models, nor its models left behind by a round rolled
back, and they are exactly as durable as the database makes its commits. A round's blobs go in one statement,
whatever the number of clients, where a file each cost 40-700 us of file system work per client update.

Reads re-hash what they read: a blob that no longer hashes to its name reads as missing, never as other bytes, and
writing the blob again repairs it.
"""

import logging
import re

from apps.core.db import rows_insert

from .blobs import content_address
from .models import Blob

logger = logging.getLogger(__name__)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def blobs_write(blobs):
    """Stores the blobs and returns their SHA-256 hex, in order. A blob already stored intact is not written
    again; a damaged copy is replaced. Call it inside the transaction that names them."""
    blobs = [bytes(data) for data in blobs]
    digests = [content_address(data) for data in blobs]
    by_name = dict(zip(digests, blobs))  # one row per name: an upsert may not touch a row twice
    rows_insert(Blob, ["sha256", "data"], by_name.items(), upsert_on="sha256")
    return digests


def blob_write(data):
    """Stores the bytes and returns their SHA-256 hex."""
    return blobs_write([data])[0]


def blobs_read(names):
    """{name: bytes or None} for each name: None when it is not a digest, nothing is stored under it, or what is
    stored no longer hashes to it."""
    names = set(names)
    valid = [name for name in names if isinstance(name, str) and _SHA256_HEX.fullmatch(name)]
    stored = dict(Blob.objects.filter(sha256__in=valid).values_list("sha256", "data")) if valid else {}
    return {name: _intact(name, stored.get(name)) for name in names}


def blob_read(name):
    """The blob's bytes, or None (see blobs_read)."""
    return blobs_read([name])[name]


def _intact(name, data):
    if data is None:
        return None
    data = bytes(data)  # PostgreSQL's driver returns a memoryview
    if content_address(data) != name:
        logger.warning("blob %s is damaged: its content hashes to %s", name, content_address(data))
        return None
    return data
