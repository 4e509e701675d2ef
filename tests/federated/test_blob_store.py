import os

import pytest

from apps.federated import storage
from apps.federated.blobs import content_address
from apps.federated.storage import blob_path, blob_read, blob_write


def test_write_then_read_by_content_address(blob_dir):
    digest = blob_write(b"model bytes")
    assert digest == content_address(b"model bytes")
    assert blob_read(digest) == b"model bytes"
    assert blob_path(digest) == blob_dir / digest[:2] / digest
    assert blob_write(b"model bytes") == digest  # idempotent


@pytest.mark.parametrize("name", ["", "abc", "G" * 64, "A" * 64, "../" + "0" * 61, None, 5])
def test_names_that_are_not_digests_read_as_nothing(name):
    assert blob_read(name) is None


def test_missing_and_damaged_blobs_read_as_nothing_and_a_rewrite_repairs(blob_dir):
    assert blob_read(content_address(b"never stored")) is None
    digest = blob_write(b"original")
    blob_path(digest).write_bytes(b"origina")  # truncated on disk
    assert blob_read(digest) is None
    assert blob_write(b"original") == digest
    assert blob_read(digest) == b"original"


def test_a_crash_during_the_write_leaves_no_blob_under_its_name(blob_dir, monkeypatch):
    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError):
        blob_write(b"partial")
    digest = content_address(b"partial")
    assert not blob_path(digest).exists()
    assert os.listdir(blob_path(digest).parent) == []  # the temporary file is gone too
