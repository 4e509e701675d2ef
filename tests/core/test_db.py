import pytest
from django.db import IntegrityError, transaction

from apps.core.db import rows_insert
from apps.federated.models import Blob, Client, ClientUpdate
from apps.federated.services import experiment_create, experiment_run_round
from tests.federated.conftest import SMALL

pytestmark = pytest.mark.django_db


def test_rows_read_back_as_the_values_inserted():
    experiment = experiment_create(**SMALL)
    round_zero = experiment_run_round(experiment=experiment, number=0)
    first, second = Client.objects.filter(experiment=experiment).order_by("index")[:2]
    fields = ["round", "client", "samples", "update_hash", "train_loss", "accepted", "reason", "worker", "train_seconds"]
    rows_insert(
        ClientUpdate,
        fields,
        [
            (round_zero.pk, first.pk, 7, "a" * 64, 0.25, True, "", "host:1", 0.5),
            (round_zero.pk, second.pk, 9, "b" * 64, None, False, "non-finite values", "host:2", 0.0),
        ],
    )
    stored = ClientUpdate.objects.filter(round=round_zero).order_by("client__index")
    assert [
        (u.client_id, u.samples, u.update_hash, u.train_loss, u.accepted, u.reason, u.worker, u.train_seconds)
        for u in stored
    ] == [
        (first.pk, 7, "a" * 64, 0.25, True, "", "host:1", 0.5),
        (second.pk, 9, "b" * 64, None, False, "non-finite values", "host:2", 0.0),
    ]


def test_a_duplicate_key_fails_and_changes_nothing_unless_upserting():
    rows_insert(Blob, ["sha256", "data"], [("1" * 64, b"first")])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(Blob, ["sha256", "data"], [("2" * 64, b"new"), ("1" * 64, b"second")])
    assert {blob.sha256: bytes(blob.data) for blob in Blob.objects.all()} == {"1" * 64: b"first"}

    written = rows_insert(Blob, ["sha256", "data"], [("2" * 64, b"new"), ("1" * 64, b"second")], upsert_on="sha256")
    assert written == 2
    assert {blob.sha256: bytes(blob.data) for blob in Blob.objects.all()} == {"1" * 64: b"second", "2" * 64: b"new"}


def test_an_upsert_leaves_rows_that_would_not_change_unwritten():
    rows_insert(Blob, ["sha256", "data"], [("1" * 64, b"first"), ("2" * 64, b"second")])
    written = rows_insert(Blob, ["sha256", "data"], [("1" * 64, b"first"), ("2" * 64, b"2nd")], upsert_on="sha256")
    assert written == 1
    assert {blob.sha256: bytes(blob.data) for blob in Blob.objects.all()} == {"1" * 64: b"first", "2" * 64: b"2nd"}


def test_no_rows_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_insert(Blob, ["sha256", "data"], iter([])) == 0
