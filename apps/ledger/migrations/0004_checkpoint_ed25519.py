"""Checkpoints become Ed25519 signatures by the node key (kept in the key directory, outside the data directory).

Checkpoints an earlier version signed with HMAC-SHA256 (under FEDCHAIN_CHECKPOINT_KEY, or the secret key when it
was not set) are re-signed with the node key when, and only when, their HMAC verifies: the upgrade carries over
exactly what the old key vouched for. A checkpoint whose HMAC fails keeps its old signature and fails
verify_chain as before.
"""

from django.conf import settings
from django.db import migrations, models


def resign_legacy_checkpoints(apps, schema_editor):
    from apps.core.keys import node_key
    from apps.ledger.checkpoint import SIGNATURE_HEX_LENGTH, checkpoint_signature, legacy_checkpoint_valid

    Checkpoint = apps.get_model("ledger", "Checkpoint")
    legacy = Checkpoint.objects.using(schema_editor.connection.alias).exclude(signature__regex=r"^.{%d}$" % SIGNATURE_HEX_LENGTH)
    if not legacy.exists():
        return
    legacy_key = (settings.FEDCHAIN_CHECKPOINT_KEY or settings.SECRET_KEY).encode()
    key = node_key()
    for checkpoint in legacy.iterator():
        if legacy_checkpoint_valid(legacy_key, checkpoint.height, checkpoint.hash, checkpoint.signature):
            checkpoint.signature = checkpoint_signature(key, checkpoint.height, checkpoint.hash)
            checkpoint.save(update_fields=["signature"])


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_block_ledger_block_status'),
    ]

    operations = [
        migrations.AlterField(
            model_name='checkpoint',
            name='signature',
            field=models.CharField(help_text='Ed25519 signature of checkpoint_message(height, hash), hex', max_length=128),
        ),
        migrations.RunPython(resign_legacy_checkpoints, migrations.RunPython.noop),
    ]
