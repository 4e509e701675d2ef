"""Database helpers shared by the apps."""

from contextlib import ExitStack, contextmanager

from django.db import connection, connections, router, transaction


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


def column_size(model, pk, field):
    """The length in bytes of a binary column of the row with this primary key, None without such a row; the
    value itself is not read."""
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    column, table = quote(model._meta.get_field(field).column), quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT length({column}) FROM {table} WHERE {quote(model._meta.pk.column)} = %s", [pk])
        row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def column_slice(model, pk, field, offset, length):
    """Bytes offset..offset+length of a binary column of the row with this primary key (fewer at its end; None
    without such a row), read without loading the rest of the value: SQLite's incremental blob I/O (its
    substr() would read the whole value for every slice), elsewhere SQL's substring (PostgreSQL reads only the
    TOAST chunks that hold the slice of a value stored uncompressed)."""
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    column, table = model._meta.get_field(field).column, model._meta.db_table
    where = f"WHERE {quote(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT rowid FROM {quote(table)} {where}", [pk])
            row = cursor.fetchone()
            if row is None:
                return None
            with connection.connection.blobopen(table, column, row[0], readonly=True) as blob:
                blob.seek(min(offset, len(blob)))
                return blob.read(length)
        cursor.execute(f"SELECT substring({quote(column)} FROM %s FOR %s) FROM {quote(table)} {where}", [offset + 1, length, pk])
        row = cursor.fetchone()
    return None if row is None else bytes(row[0])


@contextmanager
def read_snapshot():
    """Every read inside sees the database as it was at one moment, so that a check reading many tables never
    mixes the state before a concurrent write with the state after it (in autocommit each query would see a
    newer one). Reads only: one read transaction, REPEATABLE READ READ ONLY on PostgreSQL; on SQLite a
    deferred BEGIN, which in WAL mode takes its snapshot at the first read and takes no write lock (the
    connections' IMMEDIATE mode would block every writer for as long as the check runs). Inside a transaction
    already, it is that transaction's isolation that holds."""
    if connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()  # so that connecting does not reset the mode set below
    with ExitStack() as snapshot:
        if connection.vendor == "sqlite":
            mode, connection.transaction_mode = connection.transaction_mode, "DEFERRED"
            try:
                snapshot.enter_context(transaction.atomic())
            finally:
                connection.transaction_mode = mode
        else:
            snapshot.enter_context(transaction.atomic())
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
