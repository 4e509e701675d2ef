"""Database triggers that record every write to the ledger's tables in ledger_chainchange (models.ChainChange).

Whoever writes (this application, a raw SQL session, another program) leaves a row saying what changed: the
table, the operation and the block row or height concerned, old and new values for an update. `watch_chain`
reads the rows added since its last look and re-checks only the blocks they touch; a slower full pass backs it
up against writes that escape the triggers (a writer who drops them or deletes the log's rows, a file edited
outside the database). SQLite and PostgreSQL.
"""

CHANGE_TABLE = "ledger_chainchange"
# (table, source name, column giving the block row, column giving the height): "" when the table has none.
WATCHED = (
    ("ledger_block", "block", "id", "height"),
    ("ledger_record", "record", "block_id", ""),
    ("ledger_checkpoint", "checkpoint", "", "height"),
    ("ledger_pendingbatch", "batch", "block_id", ""),
)


def _sqlite_statements():
    statements = []
    for table, source, block_column, height_column in WATCHED:

        def row(alias, operation):
            block_row = f"{alias}.{block_column}" if block_column else "NULL"
            height = f"{alias}.{height_column}" if height_column else "NULL"
            return (
                f"INSERT INTO {CHANGE_TABLE} (source, operation, block_row, height, at) "
                f"VALUES ('{source}', '{operation}', {block_row}, {height}, strftime('%Y-%m-%d %H:%M:%f', 'now'));"
            )

        bodies = {
            "INSERT": row("NEW", "INSERT"),
            "DELETE": row("OLD", "DELETE"),
            "UPDATE": row("OLD", "UPDATE") + " " + row("NEW", "UPDATE"),
        }
        for operation, body in bodies.items():
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_log_{operation.lower()} AFTER {operation} ON {table} "
                f"FOR EACH ROW BEGIN {body} END"
            )
    return statements


def _postgres_log_row(row: str) -> str:
    """The change-log row for the OLD or the NEW version of a written row."""
    return (
        f"INSERT INTO {CHANGE_TABLE} (source, operation, block_row, height, at) VALUES (source, TG_OP, "
        f"CASE WHEN block_column = '' THEN NULL ELSE (to_jsonb({row}) ->> block_column)::bigint END, "
        f"CASE WHEN height_column = '' THEN NULL ELSE (to_jsonb({row}) ->> height_column)::bigint END, now());"
    )


_POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ledger_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source text := TG_ARGV[0];
    block_column text := TG_ARGV[1];
    height_column text := TG_ARGV[2];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO {CHANGE_TABLE} (source, operation, at) VALUES (source, TG_OP, now());
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {_postgres_log_row("OLD")}
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        {_postgres_log_row("NEW")}
    END IF;
    RETURN NULL;
END;
$$
"""


def _postgres_statements():
    statements = [_POSTGRES_FUNCTION]
    for table, source, block_column, height_column in WATCHED:
        arguments = f"'{source}', '{block_column}', '{height_column}'"
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_log_rows ON {table}",
            f"CREATE TRIGGER {table}_log_rows AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_log_change({arguments})",
            f"DROP TRIGGER IF EXISTS {table}_log_truncate ON {table}",
            f"CREATE TRIGGER {table}_log_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION ledger_log_change({arguments})",
        ]
    return statements


def trigger_statements(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return _sqlite_statements()
    if vendor == "postgresql":
        return _postgres_statements()
    raise NotImplementedError(f"no ledger change triggers for the {vendor} database")


def triggers_install(connection) -> None:
    with connection.cursor() as cursor:
        for statement in trigger_statements(connection.vendor):
            cursor.execute(statement)


def triggers_remove(connection) -> None:
    with connection.cursor() as cursor:
        for table, *_ in WATCHED:
            if connection.vendor == "sqlite":
                for operation in ("insert", "update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_log_{operation}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_log_rows ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_log_truncate ON {table}")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS ledger_log_change()")


def triggers_installed(connection) -> bool:
    """Whether every trigger is in place (the watcher says so when one was dropped)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ledger_%_log_%'")
            return cursor.fetchone()[0] == 3 * len(WATCHED)
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'ledger_%%_log_%%' "
            "AND tgrelid::regclass::text = ANY(%s)",
            [[table for table, *_ in WATCHED]],
        )
        return cursor.fetchone()[0] == 2 * len(WATCHED)
