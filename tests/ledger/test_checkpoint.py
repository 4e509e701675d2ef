"""Signed checkpoints: Ed25519 by the node key, which lives in the key directory, never in the database; they
expose a re-mined tail, and an upgrade carries over exactly what the earlier HMAC key vouched for."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core import keys
from apps.ledger import reads, store, watch
from apps.ledger.checkpoint import (
    checkpoint_signature,
    checkpoint_valid,
    legacy_checkpoint_valid,
)
from apps.ledger.models import Checkpoint

from .conftest import mine_rounds

pytestmark = pytest.mark.django_db


def test_signatures_bind_key_height_and_hash():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signature = checkpoint_signature(key, 5, "ab" * 32)
    assert len(signature) == 128
    assert checkpoint_valid(key.public_key(), 5, "ab" * 32, signature)
    assert not checkpoint_valid(other.public_key(), 5, "ab" * 32, signature)
    assert not checkpoint_valid(key.public_key(), 6, "ab" * 32, signature)
    assert not checkpoint_valid(key.public_key(), 5, "cd" * 32, signature)
    assert not checkpoint_valid(key.public_key(), 5, "ab" * 32, None)
    assert not checkpoint_valid(key.public_key(), 5, "ab" * 32, "zz" * 64)


def test_every_main_block_gets_a_checkpoint_and_the_key_is_never_stored(chain, settings):
    assert list(Checkpoint.objects.values_list("height", flat=True)) == list(range(9))
    assert all(reads.checkpoint_verify(c) for c in Checkpoint.objects.all())
    dump = "\n".join(connection.connection.iterdump())
    private = (settings.FEDCHAIN_KEY_DIR / "node.key").read_text()
    assert private.splitlines()[1] not in dump
    assert not (settings.DATA_DIR / "node.key").exists()


def test_checkpoint_sign_signs_the_tip(chain):
    Checkpoint.objects.filter(height=8).delete()
    checkpoint = store.checkpoint_sign()
    assert (checkpoint.height, checkpoint.hash) == (8, chain[-1].hash)
    assert watch.chain_verify().valid


def test_a_node_with_another_key_rejects_the_checkpoints(chain, settings, tmp_path):
    settings.FEDCHAIN_KEY_DIR = tmp_path / "another node's keys"
    report = watch.chain_verify()
    assert (report.first_invalid.height, report.first_invalid.rule) == (0, "checkpoint")
    assert "does not verify with the checkpoint key" in report.first_invalid.message
    assert reads.chain_status()["checkpoint"] is False


def test_anyone_with_the_public_key_can_check_a_checkpoint(chain):
    public = keys.public_key_from_hex(keys.node_id())
    checkpoint = Checkpoint.objects.get(height=8)
    assert checkpoint_valid(public, 8, chain[-1].hash, checkpoint.signature)


def test_chain_status_is_cheap_and_tells_the_dashboard_enough(chain, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        status = reads.chain_status()
    assert status == {
        "valid": True, "height": 8, "tip": chain[-1].hash, "chainwork": chain[-1].chainwork, "checkpoint": True,
        "first_invalid": None, "checked_at": None,
    }
    Checkpoint.objects.filter(height=8).update(signature="00" * 64)
    status = reads.chain_status()
    assert (status["valid"], status["first_invalid"]["rule"]) == (False, "checkpoint")


def test_genesis_is_fixed_and_stored_once():
    first = store.genesis_ensure()
    assert store.genesis_ensure().pk == first.pk
    # The default chain parameters' genesis, the same on every install.
    assert first.hash == "00750a19c45b7efa52632c9362f266355eeb82a245da6ccb1784907911f2ef2f"
    assert (first.height, first.experiment_id, first.round_number, first.time) == (0, None, None, 1735689600)


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_an_upgraded_install_keeps_what_its_old_key_signed_and_nothing_else(settings):
    import hashlib
    import hmac

    store.genesis_ensure()
    blocks = mine_rounds(1, 3)
    old_key = settings.SECRET_KEY.encode()  # what earlier versions signed with by default

    def legacy(height, hash_hex):
        return hmac.new(old_key, b"fedchain-checkpoint/1:%d:%s" % (height, hash_hex.encode()), hashlib.sha256).hexdigest()

    for checkpoint in Checkpoint.objects.all():
        checkpoint.signature = legacy(checkpoint.height, checkpoint.hash)
        checkpoint.save()
    assert legacy_checkpoint_valid(old_key, 3, blocks[-1].hash, Checkpoint.objects.get(height=3).signature)
    Checkpoint.objects.filter(height=2).update(signature="00" * 32)  # never signed by the old key
    migrate([("ledger", "0003_block_ledger_block_status")])
    try:
        migrate([("ledger", "0004_checkpoint_ed25519")])
        signatures = dict(Checkpoint.objects.values_list("height", "signature"))
        assert [len(signatures[h]) for h in range(4)] == [128, 128, 64, 128]
        migrate()  # the rest of the ledger's schema, which the services read
        report = watch.chain_verify()
        assert (report.valid, report.first_invalid.height, report.first_invalid.rule) == (False, 2, "checkpoint")
        Checkpoint.objects.filter(height=2).delete()
        store.checkpoint_sign(block=blocks[1])
        assert watch.chain_verify().valid
    finally:
        migrate()
