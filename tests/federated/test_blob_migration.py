"""Blobs stored as files by earlier versions move into the database when it is migrated."""

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.federated.storage import blob_read

BEFORE = [("federated", "0002_model_hash_indexes")]
AFTER = [("federated", "0003_blobs_in_the_database")]


def migrate(targets=None):
    """Migrates to `targets`, or by default to the latest migrations (where every other test expects them)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def blob_file(directory, data):
    name = hashlib.sha256(data).hexdigest()
    path = directory / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return name, path


@pytest.mark.django_db(transaction=True)
def test_blob_files_are_imported_and_left_in_place(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    directory = tmp_path / "blobs"
    intact, intact_path = blob_file(directory, b"a global model")
    damaged, damaged_path = blob_file(directory, b"an update")
    damaged_path.write_bytes(b"an updat")
    (intact_path.parent / f".tmp-{intact[:16]}-1-2").write_bytes(b"half a write")
    migrate(BEFORE)
    try:
        migrate(AFTER)
        assert blob_read(intact) == b"a global model"
        assert blob_read(damaged) is None
        assert intact_path.read_bytes() == b"a global model"
    finally:
        migrate()


@pytest.mark.django_db(transaction=True)
def test_a_data_directory_without_blob_files_migrates(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    migrate(BEFORE)
    try:
        migrate(AFTER)
    finally:
        migrate()
