import pytest


@pytest.fixture(autouse=True)
def blob_dir(settings, tmp_path):
    """Each test stores model blobs in a directory of its own."""
    settings.BLOB_DIR = tmp_path / "blobs"
    return settings.BLOB_DIR


SMALL = {"dataset": "iris", "clients": 4, "rounds": 2, "difficulty_bits": 8}
