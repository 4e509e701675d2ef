"""Signed checkpoints: the key comes from the environment, is never stored, and exposes a re-mined tail."""

import pytest
from django.db import connection

from apps.ledger import services
from apps.ledger.checkpoint import checkpoint_signature, checkpoint_valid
from apps.ledger.models import Checkpoint

pytestmark = pytest.mark.django_db


def test_signatures_bind_key_height_and_hash():
    signature = checkpoint_signature(b"key", 5, "ab" * 32)
    assert checkpoint_valid(b"key", 5, "ab" * 32, signature)
    assert not checkpoint_valid(b"other key", 5, "ab" * 32, signature)
    assert not checkpoint_valid(b"key", 6, "ab" * 32, signature)
    assert not checkpoint_valid(b"key", 5, "cd" * 32, signature)
    assert not checkpoint_valid(b"key", 5, "ab" * 32, None)


def test_every_main_block_gets_a_checkpoint_and_the_key_is_never_stored(chain, settings):
    assert list(Checkpoint.objects.values_list("height", flat=True)) == list(range(9))
    assert all(services.checkpoint_verify(c) for c in Checkpoint.objects.all())
    dump = "\n".join(connection.connection.iterdump())
    assert settings.CHECKPOINT_KEY not in dump


def test_checkpoint_sign_signs_the_tip(chain):
    Checkpoint.objects.filter(height=8).delete()
    checkpoint = services.checkpoint_sign()
    assert (checkpoint.height, checkpoint.hash) == (8, chain[-1].hash)
    assert services.chain_verify().valid


def test_a_node_with_another_key_rejects_the_checkpoints(chain, settings):
    settings.CHECKPOINT_KEY = "a different key"
    report = services.chain_verify()
    assert (report.first_invalid.height, report.first_invalid.rule) == (0, "checkpoint")
    assert "does not verify with the checkpoint key" in report.first_invalid.message
    assert services.chain_status()["checkpoint"] is False


def test_chain_status_is_cheap_and_tells_the_dashboard_enough(chain, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        status = services.chain_status()
    assert status == {
        "valid": True, "height": 8, "tip": chain[-1].hash, "chainwork": chain[-1].chainwork, "checkpoint": True,
        "first_invalid": None, "checked_at": None,
    }
    Checkpoint.objects.filter(height=8).update(signature="00" * 32)
    status = services.chain_status()
    assert (status["valid"], status["first_invalid"]["rule"]) == (False, "checkpoint")


def test_genesis_is_fixed_and_stored_once():
    first = services.genesis_ensure()
    assert services.genesis_ensure().pk == first.pk
    # The default chain parameters' genesis, the same on every install.
    assert first.hash == "00750a19c45b7efa52632c9362f266355eeb82a245da6ccb1784907911f2ef2f"
    assert (first.height, first.experiment_id, first.round_number, first.time) == (0, None, None, 1735689600)
