"""Mine jobs name their task by its new path (apps.federated.tasks.mine_round), so the lifecycle finds the jobs
of an older version by task and recovery enqueues them under the new path."""

from django.db import migrations

OLD, NEW = "apps.ledger.tasks.mine_round", "apps.federated.tasks.mine_round"


def forwards(apps, schema_editor):
    apps.get_model("workers", "Job").objects.filter(task=OLD).update(task=NEW)


def backwards(apps, schema_editor):
    apps.get_model("workers", "Job").objects.filter(task=NEW).update(task=OLD)


class Migration(migrations.Migration):
    dependencies = [("federated", "0004_clients_dropped"), ("workers", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
