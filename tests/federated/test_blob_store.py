import pytest
from django.db import transaction

from apps.federated.blobs import content_address
from apps.federated.models import Blob
from apps.federated.storage import blob_read, blob_write, blobs_read, blobs_write

pytestmark = pytest.mark.django_db


def test_write_then_read_by_content_address():
    digest = blob_write(b"model bytes")
    assert digest == content_address(b"model bytes")
    assert blob_read(digest) == b"model bytes"
    assert blob_write(b"model bytes") == digest  # idempotent
    assert Blob.objects.count() == 1


def test_many_blobs_in_one_write_named_in_order_once_each():
    digests = blobs_write([b"a", b"b", b"a"])
    assert digests == [content_address(b"a"), content_address(b"b"), content_address(b"a")]
    assert Blob.objects.count() == 2
    missing = content_address(b"never stored")
    assert blobs_read([*digests, missing, "not a digest"]) == {
        digests[0]: b"a", digests[1]: b"b", missing: None, "not a digest": None
    }


@pytest.mark.parametrize("name", ["", "abc", "G" * 64, "A" * 64, "../" + "0" * 61, None, 5])
def test_names_that_are_not_digests_read_as_nothing(name):
    assert blob_read(name) is None


def test_missing_and_damaged_blobs_read_as_nothing_and_a_rewrite_repairs():
    assert blob_read(content_address(b"never stored")) is None
    digest = blob_write(b"original")
    Blob.objects.filter(sha256=digest).update(data=b"origina")  # damaged in the database
    assert blob_read(digest) is None
    assert blob_write(b"original") == digest
    assert blob_read(digest) == b"original"


def test_a_blob_commits_or_rolls_back_with_the_transaction_that_names_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        digest = blob_write(b"of a round that failed")
        assert blob_read(digest) == b"of a round that failed"
        raise RuntimeError("the round's recording failed")
    assert blob_read(digest) is None


def test_an_opened_blob_is_checked_and_read_a_slice_at_a_time():
    from apps.federated.storage import BLOB_CHUNK_BYTES, blob_open

    data = bytes(range(256)) * (BLOB_CHUNK_BYTES // 256 * 3 + 7)  # three slices and a bit
    digest = blob_write(data)
    blob = blob_open(digest)
    assert blob.size == len(data)
    chunks = list(blob.chunks())
    assert [len(chunk) for chunk in chunks] == [BLOB_CHUNK_BYTES] * 3 + [len(data) - 3 * BLOB_CHUNK_BYTES]
    assert content_address(b"".join(chunks)) == digest
    assert blob.read(BLOB_CHUNK_BYTES - 2, 4) == data[BLOB_CHUNK_BYTES - 2 : BLOB_CHUNK_BYTES + 2]


@pytest.mark.parametrize("name", ["", "G" * 64, None, content_address(b"never stored")])
def test_names_that_are_not_stored_blobs_open_as_nothing(name):
    from apps.federated.storage import blob_open

    assert blob_open(name) is None


def test_a_damaged_blob_opens_as_nothing():
    from apps.federated.storage import blob_open

    digest = blob_write(b"original" * 100_000)
    Blob.objects.filter(sha256=digest).update(data=b"0riginal" * 100_000)
    assert blob_open(digest) is None


@pytest.mark.parametrize("change", ["same length", "shorter"])
def test_a_blob_changed_while_it_is_served_never_arrives_complete(change):
    from apps.federated.storage import BLOB_CHUNK_BYTES, BlobChanged, blob_open

    data = b"x" * (2 * BLOB_CHUNK_BYTES + 10)
    digest = blob_write(data)
    blob = blob_open(digest)
    changed = b"y" + data[1:] if change == "same length" else data[:-5]
    Blob.objects.filter(sha256=digest).update(data=changed)
    given = []
    with pytest.raises(BlobChanged):
        for chunk in blob.chunks():
            given.append(chunk)
    assert len(b"".join(given)) < len(data)
