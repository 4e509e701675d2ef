"""Tasks queued by an older version still run: Huey's queue names a task by its import path."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.utils.module_loading import import_string

from apps.workers.models import Job

OLD, NEW = "apps.ledger.tasks.mine_round", "apps.federated.tasks.mine_round"


def test_the_old_mine_task_path_is_the_lifecycles_mine_task():
    old, new = import_string(OLD), import_string(NEW)
    assert old is new
    assert old.module_path == NEW  # its result record is forgotten like every job task's (workers.signals)


@pytest.mark.django_db
def test_the_migration_moves_mine_jobs_to_the_new_path():
    migration = importlib.import_module("apps.federated.migrations.0005_mine_task_path")
    old = Job.objects.create(key="mine/1/0", task=OLD)
    other = Job.objects.create(key="train/1/1/0", task="apps.federated.tasks.train_client")
    migration.forwards(django_apps, None)
    assert Job.objects.get(pk=old.pk).task == NEW
    assert Job.objects.get(pk=other.pk).task == "apps.federated.tasks.train_client"
    migration.backwards(django_apps, None)
    assert Job.objects.get(pk=old.pk).task == OLD
