"""The database itself refuses to change the ledger: triggers on both backends, and the chain's key.

Journal entries, postings, seals, reversals and audit events are append-only; a payment may only go from POSTED
to REVERSED (nothing else of it changing) and an allocation may only be released once (released_at and
release_reason set, nothing else changing). Any other UPDATE, DELETE or TRUNCATE fails inside the database,
whoever sends it. What goes around the triggers (a superuser disabling them, a file edited on disk) is found by
`ledger-check` through the entries' hash chain (`EntrySeal`).

Maintenance that must empty these tables (the test database's flush, the bench's reset between phases) runs in
`maintenance()`: on PostgreSQL `session_replication_role = replica`, which only a superuser may set; on SQLite a
flag of this process, read by the SQL function `gc_ledger_maintenance()` that Django's connections register (a
connection without it, such as the sqlite3 shell, cannot change these tables at all).
"""
from __future__ import annotations

import hashlib
import hmac
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import connection as default_connection

APPEND_ONLY_TABLES = ("ledger_journalentry", "ledger_posting", "ledger_entryseal", "ledger_reversal",
                      "audit_auditevent")
# table -> (the column that may change and its allowed transition as SQL over OLD/NEW, the columns it sets)
TRANSITIONS = {
    "ledger_payment": ("OLD.status = 'POSTED' AND NEW.status = 'REVERSED'", ("status",)),
    "ledger_paymentallocation": ("OLD.released_at IS NULL AND NEW.released_at IS NOT NULL",
                                 ("released_at", "release_reason")),
    "ledger_penaltycharge": ("OLD.status = 'POSTED' AND NEW.status = 'WAIVED'",
                             ("status", "waived_by_id", "waived_at", "waiver_reason", "waiver_entry_id")),
}
GUARDED_TABLES = APPEND_ONLY_TABLES + tuple(TRANSITIONS)
REFUSAL = "is append-only: post a correcting entry instead"

_local = threading.local()


def chain_key() -> bytes:
    """The key of the entries' hash chain: GRIDCOUNTER_LEDGER_CHAIN_KEY, or one derived from SECRET_KEY. Kept out of
    the database, so that SQL alone cannot forge a chain."""
    configured = getattr(settings, "GRIDCOUNTER_LEDGER_CHAIN_KEY", "")
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"gridcounter ledger chain", hashlib.sha256).digest()


def maintenance_on() -> int:
    return 1 if getattr(_local, "on", False) else 0


def register_sqlite_function(sender, connection, **kwargs) -> None:
    """connection_created: give SQLite connections the function the triggers ask."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("gc_ledger_maintenance", 0, maintenance_on)


@contextmanager
def maintenance(connection=None):
    """Let this connection empty or change the guarded tables (tests' flush, the bench's reset). PostgreSQL: needs
    a superuser."""
    connection = connection or default_connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
        return
    _local.on = True
    try:
        yield
    finally:
        _local.on = False


def _columns(schema_editor, table: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        return [c.name for c in schema_editor.connection.introspection.get_table_description(cursor, table)]


def install(schema_editor) -> None:
    """Create (or re-create) the triggers on every guarded table. A migration that rebuilds one of these tables
    (SQLite remakes a table to alter it) must call this again; `ledger-check` reports a missing trigger. A table
    not made yet (an earlier migration installing the guards) is guarded by the migration that makes it."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        present = set(connection.introspection.table_names(cursor))
    guarded = [table for table in GUARDED_TABLES if table in present]

    def execute(sql: str) -> None:
        schema_editor.execute(sql, None)  # no parameters: the functions' RAISE formats use %
    if connection.vendor == "postgresql":
        execute(f"""
            CREATE OR REPLACE FUNCTION gc_refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% {REFUSAL}', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END $$""")
        for table, (allowed, columns) in TRANSITIONS.items():
            if table not in present:
                continue
            unchanged = " - ".join(["to_jsonb(NEW)", *(f"'{c}'" for c in columns)])
            before = " - ".join(["to_jsonb(OLD)", *(f"'{c}'" for c in columns)])
            execute(f"""
                CREATE OR REPLACE FUNCTION gc_guard_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'UPDATE' AND {allowed} AND ({unchanged}) = ({before}) THEN
                        RETURN NEW;
                    END IF;
                    RAISE EXCEPTION '% {REFUSAL}', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
                END $$""")
        for table in guarded:
            function = f"gc_guard_{table}" if table in TRANSITIONS else "gc_refuse_ledger_change"
            execute(f"DROP TRIGGER IF EXISTS gc_guard_rows ON {table}")
            execute(f"DROP TRIGGER IF EXISTS gc_guard_truncate ON {table}")
            execute(f"CREATE TRIGGER gc_guard_rows BEFORE UPDATE OR DELETE ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {function}()")
            execute(f"CREATE TRIGGER gc_guard_truncate BEFORE TRUNCATE ON {table} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION gc_refuse_ledger_change()")
        return
    if connection.vendor != "sqlite":
        return
    for table in guarded:
        refuse = f"SELECT RAISE(ABORT, '{table} {REFUSAL}')"
        execute(f"DROP TRIGGER IF EXISTS gc_guard_{table}_update")
        execute(f"DROP TRIGGER IF EXISTS gc_guard_{table}_delete")
        condition = "gc_ledger_maintenance() = 0"
        if table in TRANSITIONS:
            allowed, changing = TRANSITIONS[table]
            same = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in _columns(schema_editor, table) if c not in changing)
            condition += f" AND NOT ({allowed} AND {same})"
        execute(f"CREATE TRIGGER gc_guard_{table}_update BEFORE UPDATE ON {table} WHEN {condition} "
                f"BEGIN {refuse}; END")
        execute(f"CREATE TRIGGER gc_guard_{table}_delete BEFORE DELETE ON {table} WHEN gc_ledger_maintenance() = 0 "
                f"BEGIN {refuse}; END")


def remove(schema_editor, tables=GUARDED_TABLES) -> None:
    """Drop the triggers of `tables` (those that exist): a migration that rebuilds a guarded table, or updates its
    rows, takes them off first and calls `install` after."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        present = set(connection.introspection.table_names(cursor))
    for table in (t for t in tables if t in present):
        if connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS gc_guard_rows ON {table}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS gc_guard_truncate ON {table}")
        elif connection.vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS gc_guard_{table}_update")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS gc_guard_{table}_delete")


def missing(connection=None) -> list[str]:
    """The guarded tables whose triggers are not all in place."""
    connection = connection or default_connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "WHERE t.tgname IN ('gc_guard_rows', 'gc_guard_truncate') AND t.tgenabled <> 'D' "
                           "GROUP BY c.relname")
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' "
                           "AND name LIKE 'gc_guard_%' GROUP BY tbl_name")
        else:
            return []
        present = {table for table, n in cursor.fetchall() if n == 2}
    return [t for t in GUARDED_TABLES if t not in present]
