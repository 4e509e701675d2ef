from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate


def genesis_after_migrate(*, using=DEFAULT_DB_ALIAS, **kwargs):
    """A migrated install starts with its genesis block, so reads (the dashboard, the explorer) find a chain, and
    with the triggers that log writes to the ledger's tables (triggers.py).
    Skipped while the ledger's schema is not at its latest migration (the models would not match it)."""
    from django.db.migrations.executor import MigrationExecutor

    from .store import genesis_ensure

    if using != DEFAULT_DB_ALIAS:
        return
    from .triggers import triggers_install

    executor = MigrationExecutor(connections[using])
    ledger_leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] == LedgerConfig.label]
    if not executor.migration_plan(ledger_leaves):
        # Again after every migrate: SQLite rebuilds a table a migration alters, and its triggers go with it.
        triggers_install(connections[using])
        genesis_ensure()


class LedgerConfig(AppConfig):
    name = "apps.ledger"
    label = "ledger"

    def ready(self):
        post_migrate.connect(genesis_after_migrate, sender=self)
