"""Database helpers shared by the apps."""

from django.db import connections, router


def rows_insert(model, fields, rows, *, upsert_on=None):
    """Inserts `rows` (tuples of values for the model's `fields`, by name) with one executemany.

    What bulk_create does, for the hundreds of rows a round or a block writes, at a tenth of its cost
    (bench/rounds.py): the ORM prepares every value of every row field by field, which is most of the time of
    such a write. So only for values that need no preparation (str, int, float, bool, bytes and None), and
    with every column that has no database default: the model's defaults are not applied. No primary keys
    are returned. With `upsert_on` (a unique field), a row whose value there is already stored
    replaces the stored row's other fields where they differ (compared with <>: for NOT NULL columns), and
    leaves the row unwritten where they do not. Returns the number of rows inserted or updated.
    """
    rows = list(rows)
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [quote(model._meta.get_field(name).column) for name in fields]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    if upsert_on is not None:
        key = quote(model._meta.get_field(upsert_on).column)
        others = [column for column in columns if column != key]
        updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in others)
        changed = " OR ".join(f"{quote(model._meta.db_table)}.{column} <> EXCLUDED.{column}" for column in others)
        sql += f" ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {changed}"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        return cursor.rowcount
