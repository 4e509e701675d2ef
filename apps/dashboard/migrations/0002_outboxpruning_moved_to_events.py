"""The pruning mark now lives in the events app (events.0003 carried its value over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial"), ("events", "0003_outboxpruning")]
    operations = [migrations.DeleteModel(name="OutboxPruning")]
