"""Bulk writes for the bill run, the seed and the demo: ids allocated up front, then COPY or executemany.

No model instances and no signals: for tens of thousands of rows, where `bulk_create`'s per-row and per-field
work costs more than the database. Callers write history and audit rows themselves.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import DateTimeField, JSONField

from gridcounter.data.registry.models import SEARCH_KEYED, fill_search_key

__all__ = ["allocate_column_ids", "allocate_ids", "insert_rows", "json_text", "prepare_connection",
           "refresh_statistics"]


def prepare_connection() -> None:
    """SQLite: a large page cache, so index pages of big tables are not re-read for every batch."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")  # 256 MiB for this connection


def refresh_statistics() -> None:
    """ANALYZE, after a bulk load: without statistics SQLite's planner reads a whole city's accounts for a search
    prefix (it cannot tell a unique column's index from a table scan), and PostgreSQL's plans are several times
    slower until autovacuum gets round to the new rows (bench/RESULTS.md)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def allocate_ids(model, count: int) -> Sequence[int]:
    """`count` fresh primary keys for `model`, inside the writing transaction (sequence, or max under SQLite's lock)."""
    return allocate_column_ids(model._meta.db_table, model._meta.pk.column, count)


def allocate_column_ids(table: str, column: str, count: int) -> Sequence[int]:
    """`count` fresh values of the auto column `table.column` (a primary key, or simple-history's history_id).

    PostgreSQL: `count` nextval() calls of the column's sequence, in one statement; only their lowest and highest
    come back when they are consecutive (no one else drew from the sequence meanwhile: the common case), all of
    them otherwise. SQLite: above max(column), under the write lock the writing transaction holds.
    """
    if count == 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
            sequence = cursor.fetchone()[0]  # named once: evaluated per row it would cost more than nextval()
            cursor.execute(
                "WITH drawn AS MATERIALIZED (SELECT nextval(%s::regclass) AS v FROM generate_series(1, %s)), "
                "bounds AS (SELECT min(v) AS lo, max(v) AS hi FROM drawn) "
                "SELECT lo, hi, CASE WHEN hi - lo + 1 = %s THEN NULL "
                "ELSE (SELECT array_agg(v ORDER BY v) FROM drawn) END FROM bounds",
                [sequence, count, count])
            lo, hi, spread = cursor.fetchone()
            return range(lo, hi + 1) if spread is None else list(spread)
        # SQLite: the writing transaction holds the database's write lock, so nobody else inserts meanwhile.
        cursor.execute(f"SELECT COALESCE(MAX({connection.ops.quote_name(column)}), 0) FROM "
                       f"{connection.ops.quote_name(table)}")
        start = cursor.fetchone()[0] + 1
        return range(start, start + count)


def json_text(value) -> str:
    """A JSON field's value as `insert_rows` takes it: the text Django's JSONField would store."""
    return json.dumps(value)


def _sqlite_datetime(value):
    return connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value


def insert_rows(model, rows: list[dict], *, assign_ids: bool = False, batch_size: int = 2000) -> list[int]:
    """Insert rows of one model: executemany on SQLite, COPY on PostgreSQL; no model instances, no signals.

    For the bill run's tens of thousands of rows per period, where `bulk_create`'s per-row and per-field work
    costs more than the database. A row maps attnames to values as the model holds them, except JSON fields,
    given as text (`json_text`); missing fields get the model default; on SQLite aware datetimes are stored as
    naive UTC text, as Django stores them (text already in that form passes through). With `assign_ids` primary
    keys are allocated first, set in the rows and returned (for rows that others refer to); rows that carry their
    own ids (from `allocate_ids`) keep them; otherwise the database numbers the rows. Customers' and premises' search
    keys are filled in (`fill_search_key`). Call inside a transaction.
    """
    if not rows:
        return []
    if model._meta.label_lower in SEARCH_KEYED:  # customers and premises carry the key save() would give them
        for row in rows:
            fill_search_key(model, row)
    pk = model._meta.pk
    ids: list[int] = []
    if assign_ids:
        ids = allocate_ids(model, len(rows))
        for row, new_id in zip(rows, ids, strict=True):
            row[pk.attname] = new_id
    keep_ids = assign_ids or pk.attname in rows[0]
    fields = [f for f in model._meta.concrete_fields if keep_ids or f is not pk]
    adapt = connection.vendor == "sqlite"
    converters = []
    for f in fields:
        default = f.get_default()
        if isinstance(f, JSONField) and default is not None:
            default = json_text(default)
        elif adapt and isinstance(f, DateTimeField):
            converters.append((f.attname, _sqlite_datetime, default))
            continue
        converters.append((f.attname, None, default))
    data = [tuple(row.get(a, default) if c is None else c(row.get(a, default)) for a, c, default in converters)
            for row in rows]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for record in data:
                    copy.write_row(record)
        else:
            marks = ", ".join(["%s"] * len(fields))
            for start in range(0, len(data), batch_size):
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", data[start:start + batch_size])
    return ids
