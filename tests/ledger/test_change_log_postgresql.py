"""The change log's triggers on PostgreSQL (test_watch.py runs them on SQLite): every insert, update and delete of a
watched table logs the block row or height it touches, the old and the new version of an update both."""

import json
import textwrap

import pytest

from tests.core.test_scaled_out import django_script, manage, scaled_out_env  # noqa: F401 (a fixture)

SCRIPT = textwrap.dedent("""
    import json, django
    django.setup()
    from django.db import connection
    from apps.ledger.models import Block, ChainChange
    from apps.ledger.store import genesis_ensure
    from apps.ledger.triggers import triggers_installed
    assert triggers_installed(connection)
    genesis_ensure()
    ChainChange.objects.all().delete()
    genesis = Block.objects.get(height=0)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_block SET height = 7 WHERE id = %s", [genesis.id])
        cursor.execute("UPDATE ledger_record SET body = body WHERE block_id = %s", [genesis.id])
        cursor.execute("DELETE FROM ledger_record WHERE block_id = %s", [genesis.id])
    rows = ChainChange.objects.order_by("id").values_list("source", "operation", "block_row", "height")
    print(json.dumps({"genesis": genesis.id, "log": [list(row) for row in rows]}))
""")


@pytest.mark.slow
def test_every_write_to_a_watched_table_is_logged_on_postgresql(scaled_out_env):  # noqa: F811
    assert manage(scaled_out_env, "migrate", "-v0", timeout=180).returncode == 0
    stdout = django_script(scaled_out_env, SCRIPT)
    out = json.loads(stdout)
    genesis = out["genesis"]  # the genesis block has one record, its coinbase
    assert out["log"] == [
        ["block", "UPDATE", genesis, 0], ["block", "UPDATE", genesis, 7],
        ["record", "UPDATE", genesis, None], ["record", "UPDATE", genesis, None],
        ["record", "DELETE", genesis, None],
    ]
