"""A training job trains a batch of clients: `clients` (a list) replaces `client_index`; a job of the one-client
kind keeps its client as a list of one."""

from django.db import migrations, models


def clients_from_client_index(apps, schema_editor):
    Job = apps.get_model("workers", "Job")
    for job in Job.objects.filter(client_index__isnull=False).only("pk", "client_index"):
        Job.objects.filter(pk=job.pk).update(clients=[job.client_index])


def client_index_from_clients(apps, schema_editor):
    Job = apps.get_model("workers", "Job")
    for job in Job.objects.filter(clients__isnull=False).only("pk", "clients"):
        Job.objects.filter(pk=job.pk).update(client_index=job.clients[0] if job.clients else None)


class Migration(migrations.Migration):
    dependencies = [("workers", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="clients",
            field=models.JSONField(blank=True, help_text="a training job's clients, in training order", null=True),
        ),
        migrations.RunPython(clients_from_client_index, client_index_from_clients),
        migrations.RemoveField(model_name="job", name="client_index"),
    ]
