"""Model blobs are served a slice at a time, through the ASGI application Daphne serves: the explorer's
/api/models/<sha256>/ (as the blob and as .npz) and the protocol's /p2p/v1/blobs/<sha256>. A blob may be
hundreds of megabytes: none is read whole into memory to be sent."""

import asyncio
import hashlib
import io

import numpy as np
import pytest

from apps.federated import storage
from apps.federated.blobs import params_serialize
from apps.federated.storage import BLOB_CHUNK_BYTES, blob_write
from tests.asgi import asgi_get

pytestmark = pytest.mark.django_db(transaction=True)  # the ASGI handler reads in a thread of its own

SHAPES = [(3, 4), (1000, 700)]  # 5.6 MB: six slices


@pytest.fixture
def large_blob():
    rng = np.random.default_rng(7)
    flat = rng.standard_normal(sum(int(np.prod(shape)) for shape in SHAPES))
    data = params_serialize(SHAPES, flat)
    assert len(data) > 5 * BLOB_CHUNK_BYTES
    return blob_write(data), data, flat


def served(path, monkeypatch):
    """(status, headers, body, slices read before the first body bytes were sent, slices read in all)."""
    from django.conf import settings

    from fedchain_site.asgi import application

    reads = []
    read_slice = storage.column_slice

    def counted(*args):
        reads.append(args)
        return read_slice(*args)

    monkeypatch.setattr(storage, "column_slice", counted)
    before_first = []

    def on_send(message):
        if message["type"] == "http.response.body" and message.get("body") and not before_first:
            before_first.append(len(reads))

    status, headers, bodies = asyncio.run(asgi_get(application, path, host=settings.ALLOWED_HOSTS[0], on_send=on_send))
    return status, headers, b"".join(bodies), before_first[0], len(reads)


@pytest.mark.parametrize("path", ["/api/models/{}/", "/p2p/v1/blobs/{}"])
def test_a_large_blob_is_sent_as_it_is_read_and_hashes_to_its_address(large_blob, path, monkeypatch):
    digest, data, _ = large_blob
    status, headers, body, before_first, read = served(path.format(digest), monkeypatch)
    assert status == 200 and headers["content-length"] == str(len(data))
    assert hashlib.sha256(body).hexdigest() == digest
    slices = -(-len(data) // BLOB_CHUNK_BYTES)
    # Checked once whole (a slice at a time), then sent as read again: the first bytes leave once the second pass
    # has read two slices (each slice is given once the next is read: the last waits for the hash).
    assert read == 2 * slices
    assert before_first == slices + 2


def test_a_large_blob_as_npz_is_written_as_it_is_read(large_blob, monkeypatch):
    digest, data, flat = large_blob
    status, headers, body, before_first, read = served(f"/api/models/{digest}/?format=npz", monkeypatch)
    assert status == 200 and headers["content-disposition"].endswith('.npz"')
    assert headers["content-length"] == str(len(body))
    arrays = np.load(io.BytesIO(body))
    assert [arrays[f"arr_{i}"].shape for i in range(len(SHAPES))] == SHAPES
    assert np.array_equal(np.concatenate([arrays[f"arr_{i}"].ravel() for i in range(len(SHAPES))]), flat)
    slices = -(-len(data) // BLOB_CHUNK_BYTES)
    # One more read: the header, to learn the arrays' shapes.
    assert read == 2 * slices + 1
    assert before_first == slices + 3
