"""read_snapshot: every read inside sees one moment, and a writer on another connection is not held up by it."""

import textwrap
import threading

import pytest
from django.db import connection, transaction

from apps.core.db import read_snapshot
from apps.federated.models import Blob

from .test_scaled_out import django_script, manage, scaled_out_env  # noqa: F401 (a fixture)


def write_elsewhere(sha256):
    """Stores a blob on another connection (another thread's) and commits; returns what went wrong, if anything."""
    failures = []

    def write():
        try:
            Blob.objects.create(sha256=sha256, data=b"x")
        except Exception as error:  # reported to the test below
            failures.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(timeout=30)
    assert not writer.is_alive(), "the writer was held up by the snapshot"
    return failures


@pytest.mark.django_db(transaction=True)
def test_reads_inside_see_the_moment_of_the_first_read_while_another_connection_commits():
    Blob.objects.create(sha256="1" * 64, data=b"x")
    with read_snapshot():
        assert Blob.objects.count() == 1
        assert write_elsewhere("2" * 64) == []
        assert Blob.objects.count() == 1
        assert not Blob.objects.filter(sha256="2" * 64).exists()
    assert Blob.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_connection_keeps_its_own_transaction_mode_afterwards():
    mode = connection.transaction_mode if connection.vendor == "sqlite" else None
    with read_snapshot():
        Blob.objects.count()
    assert (connection.transaction_mode if connection.vendor == "sqlite" else None) == mode
    with transaction.atomic():  # writes still take their lock at BEGIN
        Blob.objects.create(sha256="3" * 64, data=b"x")
    assert Blob.objects.count() == 1


@pytest.mark.django_db
def test_inside_a_transaction_it_is_that_transaction():
    with transaction.atomic():
        Blob.objects.create(sha256="1" * 64, data=b"x")
        with read_snapshot():
            assert Blob.objects.count() == 1  # its own uncommitted write is seen


@pytest.mark.slow
def test_on_postgresql_too(scaled_out_env):  # noqa: F811
    assert manage(scaled_out_env, "migrate", "-v0", timeout=180).returncode == 0
    script = textwrap.dedent("""
        import threading, django
        django.setup()
        from django.db import connection
        from apps.core.db import read_snapshot
        from apps.federated.models import Blob
        def write():
            Blob.objects.create(sha256="2" * 64, data=b"x")
            connection.close()
        Blob.objects.create(sha256="1" * 64, data=b"x")
        with read_snapshot():
            before = Blob.objects.count()
            writer = threading.Thread(target=write)
            writer.start()
            writer.join(timeout=30)
            assert not writer.is_alive()
            inside = Blob.objects.count()
        print(before, inside, Blob.objects.count())
    """)
    stdout = django_script(scaled_out_env, script)
    assert stdout.split() == ["1", "1", "2"]
