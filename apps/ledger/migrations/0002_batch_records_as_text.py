import json

from django.db import migrations, models


def records_to_text(apps, schema_editor):
    import rfc8785

    PendingBatch = apps.get_model("ledger", "PendingBatch")
    for batch in PendingBatch.objects.all():
        batch.body = rfc8785.dumps(batch.records).decode()
        batch.save(update_fields=["body"])


def text_to_records(apps, schema_editor):
    PendingBatch = apps.get_model("ledger", "PendingBatch")
    for batch in PendingBatch.objects.all():
        batch.records = json.loads(batch.body)
        batch.save(update_fields=["records"])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="pendingbatch",
            name="body",
            field=models.TextField(
                default="[]",
                help_text="the round's records: a JSON array of canonical records, in leaf order after the coinbase",
            ),
            preserve_default=False,
        ),
        # Nullable first, so that undoing the removal can re-add the column before it is filled again.
        migrations.AlterField(model_name="pendingbatch", name="records", field=models.JSONField(null=True)),
        migrations.RunPython(records_to_text, text_to_records),
        migrations.RemoveField(model_name="pendingbatch", name="records"),
    ]
