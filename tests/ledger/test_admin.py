"""The admin shows blocks, records, batches and checkpoints, and lets nobody edit the chain."""

import pytest
from django.urls import reverse

from apps.ledger.models import Block, Checkpoint, PendingBatch, Record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Block, Record, PendingBatch, Checkpoint])
def test_lists_and_details_show_and_editing_is_refused(chain, admin_client, model):
    meta = model._meta
    listing = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert listing.status_code == 200
    obj = model.objects.first()
    detail = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
    assert detail.status_code == 200
    assert admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add")).status_code == 403
    delete_url = reverse(f"admin:{meta.app_label}_{meta.model_name}_delete", args=[obj.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_a_block_page_lists_its_records(chain, admin_client):
    block = chain[0]
    page = admin_client.get(reverse("admin:ledger_block_change", args=[block.pk])).content.decode()
    assert block.hash in page
    assert all(txid in page for txid in block.records.values_list("txid", flat=True))
