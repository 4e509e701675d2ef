"""The outbox's pruning mark moves from the dashboard app to the outbox's own app, its value carried over."""

from django.db import migrations, models

OLD_TABLE = "dashboard_outboxpruning"


def carry_over(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return  # a new install: the dashboard's table is created later and empty
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, pruned_through, pruned_at FROM {connection.ops.quote_name(OLD_TABLE)}")
        rows = cursor.fetchall()
    OutboxPruning = apps.get_model("events", "OutboxPruning")
    for pk, pruned_through, pruned_at in rows:
        OutboxPruning.objects.create(pk=pk, pruned_through=pruned_through)


class Migration(migrations.Migration):
    dependencies = [("events", "0002_event_type_index")]
    operations = [
        migrations.CreateModel(
            name="OutboxPruning",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("pruned_through", models.BigIntegerField(default=0)),
                ("pruned_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name_plural": "outbox pruning"},
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
    ]
