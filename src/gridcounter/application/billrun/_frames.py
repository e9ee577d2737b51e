"""A batch of routes read as Polars frames: one query per table, through COPY (PostgreSQL) or ADBC / sqlite3."""
from __future__ import annotations

import contextvars
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import polars as pl
from django.db import connection

from gridcounter.domain.billing.cycle import USABLE_STATUSES, WINDOW_DAYS
from gridcounter.domain.billing.periods import (
    BillingPeriod,
)
from gridcounter.domain.business_time import start_of_business_day

logger = logging.getLogger(__name__)


def query_frame(sql: str, params: list, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Run `sql` and return its rows as a frame. PostgreSQL: COPY (…) TO STDOUT as CSV into Polars."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            from psycopg import ClientCursor

            bound = ClientCursor(raw.connection).mogrify(sql, params)
            chunks = []
            with raw.copy(f"COPY ({bound}) TO STDOUT WITH (FORMAT csv)") as copy:
                for block in copy:
                    chunks.append(bytes(block))
            data = b"".join(chunks)
            if not data:
                return pl.DataFrame(schema=schema)
            frame = pl.read_csv(data, has_header=False, new_columns=list(schema), infer_schema=False)
        else:
            arrow = _arrow_reader.get()
            frame = _arrow_query(arrow, sql, params, schema) if arrow is not None else None
            if frame is None:
                cursor.execute(sql, params)
                frame = pl.DataFrame(cursor.fetchall(), schema=list(schema), orient="row", infer_schema_length=None)
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    return frame.with_columns([_cast(name, dtype) for name, dtype in schema.items()])


# SQLite, a reading process: an ADBC connection (with a read transaction open) that `query_frame` reads through
_arrow_reader: contextvars.ContextVar = contextvars.ContextVar("gridcounter_arrow_reader", default=None)


@contextmanager
def reading_through(arrow):
    """`query_frame` reads through the ADBC connection `arrow` inside (a reading process: `_reader.prepare`)."""
    token = _arrow_reader.set(arrow)
    try:
        yield
    finally:
        _arrow_reader.reset(token)


def _arrow_query(arrow, sql: str, params: list, schema: dict[str, pl.DataType]) -> pl.DataFrame | None:
    """Rows of `sql` (Django's %s placeholders) through ADBC, as Arrow columns: no Python object per value. Dates
    and timestamps are bound as the text SQLite holds (Django's sqlite3 adapters do the same). The driver infers a
    column's type from the values of its first result batch, so the whole result is one batch; None if the driver
    still cannot type a column (the caller reads the rows through its own connection)."""
    import adbc_driver_sqlite

    bound = [v.isoformat(" ") if isinstance(v, datetime) else v.isoformat() if isinstance(v, date)
             else str(v) if isinstance(v, Decimal) else v for v in params]
    with arrow.cursor() as cursor:
        cursor.adbc_statement.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(1 << 30)})
        try:
            cursor.execute(sql.replace("%s", "?"), bound)
            table = cursor.fetch_arrow_table()
        except OSError:
            logger.info("reading %s… through sqlite3: ADBC could not type its columns", sql[:60])
            return None
    if table.num_rows == 0:
        return pl.DataFrame(schema=schema)
    return pl.from_arrow(table).rename(dict(zip(table.column_names, schema, strict=True)))


def _cast(name: str, dtype: pl.DataType) -> pl.Expr:
    """Cast a column as it came from either backend (SQLite values, or PostgreSQL CSV text)."""
    col = pl.col(name)
    if dtype == pl.Date():
        return col.cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d").alias(name)
    if dtype == pl.Boolean():
        return col.cast(pl.String).is_in(["t", "true", "True", "1"]).alias(name)
    return col.cast(dtype).alias(name)


def _centi_sql(column: str) -> str:
    """A decimal(…, 2) column as integer hundredths, exactly, on both backends."""
    return f"CAST(ROUND({column} * 100) AS BIGINT)"


def _instant_sql(column: str) -> str:
    """A timestamp as UTC text that sorts in time order (SQLite stores it so already)."""
    if connection.vendor == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    return _raw_sql(column)


def _raw_sql(column: str) -> str:
    """A date, timestamp or boolean column as stored. On SQLite the value goes to Polars as its text: Django's
    converters (which follow the declared column type, and leave an expression alone) would first make a Python
    object of every value, about 8 s of a 1 M-account run; `_cast` parses the text column by column."""
    return f"CAST({column} AS TEXT)" if connection.vendor == "sqlite" else column


@dataclass
class RouteFrames:
    accounts: pl.DataFrame
    installations: pl.DataFrame
    readings: pl.DataFrame
    ytd: pl.DataFrame
    history: pl.DataFrame  # earlier live bills used by the explanation
    existing: pl.DataFrame  # live bills of the period
    changed: set[int]  # accounts whose tariff or category history moved inside the period


def load_route(*, route_id: int, billing: BillingPeriod) -> RouteFrames:
    """One route's accounts, installations, fixed-day readings, year-to-date kWh and recent bills, as frames."""
    return load_routes(route_ids=[route_id], billing=billing)


def load_routes(*, route_ids: list[int], billing: BillingPeriod) -> RouteFrames:
    """Routes' accounts, installations, fixed-day readings, year-to-date kWh and recent bills, as frames.

    One query per table for the whole batch of routes (all with the same fixed reading day).
    """
    routes_in = f"a.route_id IN ({', '.join(['%s'] * len(route_ids))})"
    window = timedelta(days=WINDOW_DAYS)
    accounts = query_frame(
        "SELECT a.id, a.route_id, a.number, a.tariff_id, a.usage_category, a.household_size, "
        f"{_centi_sql('a.capacity_kva')}, a.walk_order FROM registry_account a "
        f"WHERE {routes_in} AND a.status <> 'PENDING' ORDER BY a.route_id, a.walk_order, a.id",
        [*route_ids], {"account_id": pl.Int64(), "route_id": pl.Int64(), "number": pl.String(), "tariff_id": pl.String(),
                     "usage_category": pl.String(), "household_size": pl.Int64(), "capacity_c": pl.Int64(),
                     "walk_order": pl.Int64()})
    installations = query_frame(
        "SELECT i.account_id, i.meter_id, m.asset_number, m.digits, "
        f"{_centi_sql('m.multiplier')}, m.registers, {_raw_sql('i.installed_date')}, {_raw_sql('i.removed_date')}, "
        f"{_raw_sql('m.sends_intervals')} "
        "FROM registry_installation i JOIN registry_account a ON a.id = i.account_id "
        "JOIN registry_meter m ON m.id = i.meter_id "
        f"WHERE {routes_in} AND i.installed_date < %s AND (i.removed_date IS NULL OR i.removed_date > %s)",
        [*route_ids, billing.end_date, billing.start_date],
        {"account_id": pl.Int64(), "meter_id": pl.Int64(), "asset_number": pl.String(), "digits": pl.Int64(),
         "multiplier_c": pl.Int64(), "registers": pl.String(), "installed_date": pl.Date(),
         "removed_date": pl.Date(), "sends_intervals": pl.Boolean()})
    readings = query_frame(
        f"SELECT i.account_id, r.id, r.meter_id, r.register, {_raw_sql('r.read_date')}, {_instant_sql('r.read_at')}, "
        f"{_centi_sql('r.value')}, r.source, {_raw_sql('r.is_estimate')}, r.status "
        "FROM readings_reading r JOIN registry_installation i ON i.meter_id = r.meter_id "
        "JOIN registry_account a ON a.id = i.account_id "
        f"WHERE {routes_in} AND i.installed_date < %s AND (i.removed_date IS NULL OR i.removed_date > %s) "
        f"AND r.status IN ({', '.join(['%s'] * len(USABLE_STATUSES))}) AND ((r.read_date >= %s AND r.read_date <= %s) "
        "OR (r.read_date >= %s AND r.read_date <= %s))",
        [*route_ids, billing.end_date, billing.start_date, *USABLE_STATUSES, billing.start_date - window,
         billing.start_date + window,
         billing.end_date - window, billing.end_date + window],
        {"account_id": pl.Int64(), "reading_id": pl.Int64(), "meter_id": pl.Int64(), "register": pl.String(),
         "read_date": pl.Date(), "read_at": pl.String(), "value_c": pl.Int64(), "source": pl.String(),
         "is_estimate": pl.Boolean(), "status": pl.String()})
    # the batch's live bills from a year before the period to the period itself, in one pass per account:
    # year-to-date kWh (January to the period before), the bills the explanation compares with, and the period's
    # own (accounts billed already are skipped)
    year_start = f"{billing.start_date.year:04d}-01"
    wanted = sorted({*billing.recent, billing.last_year})
    c = pl.col
    bills = query_frame(*_batch_bills(
        select=f"b.account_id, b.period, {_centi_sql('b.kwh')}, b.amount_fen, {_raw_sql('b.start_date')}, "
               f"{_raw_sql('b.end_date')}, b.status",
        condition="b.period >= %s AND b.period <= %s AND NOT (b.status = 'CANCELLED')",
        params=[min(year_start, *wanted), billing.period], routes_in=routes_in, route_ids=route_ids),
        {"account_id": pl.Int64(), "period": pl.String(), "kwh_c": pl.Int64(), "amount_fen": pl.Int64(),
         "start_date": pl.Date(), "end_date": pl.Date(), "status": pl.String()})
    ytd = bills.filter((c("period") >= year_start) & (c("period") < billing.period)).group_by("account_id").agg(
        c("kwh_c").sum().alias("ytd_c"))
    history = bills.filter(c("period").is_in(wanted)).drop("status")
    existing = bills.filter(c("period") == billing.period).select("account_id", "status")
    since = start_of_business_day(billing.start_date)
    # history since the period started, and a row naming another tariff or category: the per-account run
    # splits such a period into segments (history that never changed either gives one segment, the plain case)
    changed = query_frame(
        "SELECT DISTINCT h.id FROM registry_historicalaccount h JOIN registry_account a ON a.id = h.id "
        f"WHERE {routes_in} AND (h.tariff_id <> a.tariff_id OR h.usage_category <> a.usage_category) "
        "AND h.id IN (SELECT r.id FROM registry_historicalaccount r WHERE r.history_date >= %s)",
        [*route_ids, since], {"account_id": pl.Int64()})
    return RouteFrames(accounts=accounts, installations=installations, readings=readings, ytd=ytd,
                       history=history, existing=existing, changed=set(changed["account_id"].to_list()))


def _batch_bills(*, select: str, condition: str, params: list, routes_in: str, route_ids: list[int],
                 tail: str = "") -> tuple[str, list]:
    """SQL and parameters reading the batch's accounts' bills (alias b) that meet `condition`.

    On PostgreSQL each account's bills are found through its (account, period) index, in a LATERAL subquery kept
    apart by OFFSET 0: while a run writes a period's bills the planner's statistics still count the table as it
    was, and a plan that reads the period's bills first and then joins the batch's accounts would re-read every
    bill written so far, for every batch. SQLite does the same with the batch's accounts as the outer loop (CROSS
    JOIN keeps the order written) and `bill_one_live_per_period` (a `condition` written as its predicate, `NOT
    (b.status = 'CANCELLED')`, lets SQLite use that partial index): joined the other way, each batch of a 1 M city
    read the period's bills through the period index, 1.0 s a batch by the end of the run.
    """
    if connection.vendor == "postgresql":
        return (f"SELECT {select} FROM registry_account a CROSS JOIN LATERAL (SELECT * FROM billing_bill b "
                f"WHERE b.account_id = a.id AND {condition} OFFSET 0) b WHERE {routes_in} {tail}",
                [*params, *route_ids])
    return (f"SELECT {select} FROM registry_account a CROSS JOIN billing_bill b ON b.account_id = a.id "
            f"WHERE {routes_in} AND {condition} {tail}", [*route_ids, *params])
