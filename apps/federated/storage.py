"""Model blobs in the database, content-addressed: a Blob row's name is the SHA-256 of its bytes.

Rows, not files, so that a round's blobs commit in the round's own transaction, with the Round, its ClientUpdates
and its ledger batch: a round is never recorded without its models, nor its models left behind by a round rolled
back, and they are exactly as durable as the database makes its commits. A round's blobs go in one statement,
whatever the number of clients, where a file each cost 40-700 us of file system work per client update.

Reads re-hash what they read: a blob that no longer hashes to its name reads as missing, never as other bytes, and
writing the blob again repairs it. A blob served to a client (blob_open) is read a slice at a time, never whole.
"""

import hashlib
import logging
import re
from dataclasses import dataclass

from apps.core.db import column_size, column_slice, rows_insert

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


# A served blob is read this much at a time: what one download holds in memory.
BLOB_CHUNK_BYTES = 1 << 20


class BlobChanged(Exception):
    """A blob's stored bytes changed while it was being served: they no longer hash to its name."""


@dataclass(frozen=True)
class StoredBlob:
    """A blob checked intact when opened (blob_open), read in slices of BLOB_CHUNK_BYTES."""

    name: str
    size: int

    def read(self, offset, length):
        """Bytes offset..offset+length as stored now (unchecked: for a header to parse before serving)."""
        return column_slice(Blob, self.name, "data", offset, length) or b""

    def _slices(self):
        for offset in range(0, self.size, BLOB_CHUNK_BYTES):
            data = self.read(offset, BLOB_CHUNK_BYTES)
            if len(data) != min(BLOB_CHUNK_BYTES, self.size - offset):
                raise BlobChanged(f"blob {self.name} is now shorter than the {self.size} bytes it had")
            yield data

    def digest(self):
        """The SHA-256 hex of the stored bytes, read a slice at a time."""
        sha = hashlib.sha256()
        for data in self._slices():
            sha.update(data)
        return sha.hexdigest()

    def chunks(self):
        """The bytes, a slice at a time, hashed again on the way: the last slice is only given once the whole
        hashes to the name, so a blob changed since it was opened never reaches a reader complete (BlobChanged
        instead)."""
        sha, held = hashlib.sha256(), None
        for data in self._slices():
            sha.update(data)
            if held is not None:
                yield held
            held = data
        if sha.hexdigest() != self.name:
            logger.warning("blob %s changed while it was served: it now hashes to %s", self.name, sha.hexdigest())
            raise BlobChanged(f"blob {self.name} changed while it was served")
        if held is not None:
            yield held


def blob_open(name):
    """The stored blob, checked intact a slice at a time (never read whole), or None as blob_read says."""
    if not (isinstance(name, str) and _SHA256_HEX.fullmatch(name)):
        return None
    size = column_size(Blob, name, "data")
    if size is None:
        return None
    blob = StoredBlob(name=name, size=size)
    try:
        digest = blob.digest()
    except BlobChanged:
        return None
    if digest != name:
        logger.warning("blob %s is damaged: its content hashes to %s", name, digest)
        return None
    return blob
