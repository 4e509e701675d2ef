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


def test_blobs_reach_the_disk_before_their_name_only_when_asked(blob_dir, settings, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def logged_fsync(handle):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{handle}")))
        fsync(handle)

    def logged_replace(source, target):
        events.append(("rename", os.fspath(target)))
        replace(source, target)

    monkeypatch.setattr(storage.os, "fsync", logged_fsync)
    monkeypatch.setattr(storage.os, "replace", logged_replace)

    settings.FEDCHAIN_BLOB_FSYNC = False
    fast = blob_write(b"fast")
    assert events == [("rename", str(blob_path(fast)))]

    events.clear()
    settings.FEDCHAIN_BLOB_FSYNC = True
    durable = blob_write(b"durable")
    directory = str(blob_path(durable).parent)
    assert [kind for kind, _ in events] == ["fsync", "rename", "fsync"]
    assert events[0][1].startswith(directory + "/.tmp-")  # the data, before it takes the blob's name
    assert events[1:] == [("rename", str(blob_path(durable))), ("fsync", directory)]  # then the name itself
    assert blob_read(durable) == b"durable"
