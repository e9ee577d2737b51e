"""The columnar bill run: a route's data as Polars frames, the vectorised kernel, bulk writes in one transaction.

Same rules and same bills as `gridcounter.application.billing` (the per-account run):

- accounts whose period is plain — one installation over the whole period, fixed-day readings found,
  accepted and actual, no rollover, no change of tariff or category in the period, no bill yet — are
  rated by `gridcounter.domain.tariffs.rating_frame.rate_frame` and explained with the domain's own `explain()` and
  `assess_shock()`;
- every other account (meter exchange, missed, held or estimated readings, rollover, category change,
  a rating the kernel leaves to `rate()`) is drafted by the per-account path (`gather_inputs` +
  `draft_bill`) and written by the same bulk writer; the run summary counts both;
- accounts with 15-minute intervals stored for the period (docs/intervals.md) are billed from their
  binned intervals: one `interval_usage` per route, then the per-account drafting (reason INTERVAL_DATA).

One transaction per route: bills, history rows, lines, journal entries and postings land together or not
at all. Ids are allocated in advance (sequence on PostgreSQL, max(id) under SQLite's write lock); rows go
in with COPY (PostgreSQL), executemany (SQLite), or on SQLite `INSERT … SELECT` from the rows a reading process
staged (`_run_reading_ahead`). Idempotent: accounts with a live bill for the period are
skipped, and the partial unique constraint `bill_one_live_per_period` refuses a duplicate even after a crash.
"""
from __future__ import annotations

import contextvars
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from gridcounter.application import billing as per_account
from gridcounter.application import ledger, readahead
from gridcounter.application.billrun_check import ReferenceCheck, check_against_reference, sample_accounts
from gridcounter.application.bulk import allocate_column_ids
from gridcounter.data.audit.context import current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill, BillLine, BillRun
from gridcounter.data.ledger.models import JournalEntry, Payment, Posting
from gridcounter.data.registry.models import Account, Route
from gridcounter.domain.billing.cycle import USABLE_STATUSES, WINDOW_DAYS, pick_reading_frame
from gridcounter.domain.billing.draft import BillDraft, TariffSegment, draft_bill, price_changes
from gridcounter.domain.billing.explanation import BillContext, explain, explaining_codes
from gridcounter.domain.billing.explanation_frame import EXPLAIN_INPUT, explain_frame, tier_table
from gridcounter.domain.billing.intervals import interval_facts
from gridcounter.domain.billing.periods import (
    BillingPeriod,
    billing_period,
    is_due,
    parse_period,
)
from gridcounter.domain.billing.shock import PeriodFigures, assess_shock
from gridcounter.domain.business_time import start_of_business_day
from gridcounter.domain.ledger import UnbalancedEntry, bill_posting_template, unbalanced_entries
from gridcounter.domain.tariffs import Catalogue, TierBasis, tier_status, tier_thresholds
from gridcounter.domain.tariffs.rating_frame import VECTOR, rate_frame
from gridcounter.domain.units import E4, C, decimal_of, fixed_text, half_up

ENERGY_REGISTERS = ("TOTAL", "PEAK", "FLAT", "VALLEY")
KNOWN_REGISTERS = (*ENERGY_REGISTERS, "REACTIVE")
logger = logging.getLogger(__name__)

__all__ = ["FastRunSummary", "PreparedBatch", "can_read_ahead", "default_threads", "load_route", "load_routes", "plan_batches", "run_batch_fast", "run_bills_fast",
           "run_route_fast"]


@dataclass
class FastRunSummary:
    period: str
    routes: int = 0
    issued: int = 0
    held: int = 0
    skipped: int = 0
    not_due: int = 0
    kernel: int = 0  # accounts rated by the vectorised kernel
    per_account: int = 0  # accounts drafted by the per-account path
    per_account_reasons: Counter = field(default_factory=Counter)
    held_by_code: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    python_explained: int = 0  # kernel-rated bills explained by explain() (see billing.explanation_frame)
    reference_checked: int = 0  # kernel-rated bills drafted again by the reference rules (billrun_check)
    reference_seconds: float = 0.0  # what that took

    def add(self, other: FastRunSummary) -> None:
        for name in ("routes", "issued", "held", "skipped", "not_due", "kernel", "per_account", "seconds",
                     "python_explained", "reference_checked", "reference_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.per_account_reasons.update(other.per_account_reasons)
        self.held_by_code.update(other.held_by_code)

    def as_dict(self) -> dict:
        return {"period": self.period, "engine": "kernel", "routes": self.routes, "issued": self.issued,
                "held": self.held, "skipped": self.skipped, "not_due": self.not_due, "kernel": self.kernel,
                "per_account": self.per_account, "python_explained": self.python_explained,
                "reference_checked": self.reference_checked, "reference_seconds": round(self.reference_seconds, 3),
                "per_account_reasons": dict(sorted(self.per_account_reasons.items())),
                "held_by_code": dict(sorted(self.held_by_code.items())), "seconds": round(self.seconds, 3)}


# --- reading a route as frames ----------------------------------------------------------------------------

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
    """`query_frame` reads through the ADBC connection `arrow` inside (a reading process: `readahead.prepare`)."""
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


# --- from readings to usage (vectorised) ------------------------------------------------------------------

def _pick(readings: pl.DataFrame, *, fixed: date, which: str) -> pl.DataFrame:
    """The reading for a fixed day per (account, meter, register) (`cycle.pick_reading_frame`), its columns named
    `<which>_…`."""
    c = pl.col
    return pick_reading_frame(readings, fixed_date=fixed, keys=["account_id", "meter_id", "register"]).select(
        "account_id", "meter_id", "register",
        *[c(name).alias(f"{which}_{name}") for name in
          ("reading_id", "read_date", "value_c", "source", "is_estimate", "status")])


def plain_usage(frames: RouteFrames, *, billing: BillingPeriod, catalogue: Catalogue) -> tuple[pl.DataFrame, dict]:
    """Usage per account whose period is plain (see the module docstring), and why the others are not.

    Returns (usage rows: account, registers in e4 kWh, meter facts, the readings used; {account_id: reason}).
    """
    c = pl.col
    accounts = frames.accounts
    reasons: dict[int, str] = {}
    inst = frames.installations.with_columns(
        c("registers").fill_null('["TOTAL"]').str.json_decode(pl.List(pl.String)))
    inst = inst.with_columns(  # an empty register list means a plain TOTAL register (as gather_inputs reads it)
        pl.when(c("registers").list.len() == 0).then(pl.lit(["TOTAL"])).otherwise(c("registers")).alias("registers"))
    count = inst.group_by("account_id").agg(pl.len().alias("_n"))
    for account_id in accounts.join(count, on="account_id", how="left").filter(
            c("_n").fill_null(0) != 1)["account_id"].to_list():
        reasons[account_id] = "METER_EXCHANGE_OR_NO_METER"
    whole = inst.filter((c("installed_date") <= billing.start_date)
                        & (c("removed_date").is_null() | (c("removed_date") > billing.end_date)))
    for account_id in set(inst["account_id"].to_list()) - set(whole["account_id"].to_list()):
        reasons.setdefault(account_id, "INSTALLED_OR_REMOVED_IN_PERIOD")
    odd = whole.filter(~c("registers").list.eval(pl.element().is_in(list(KNOWN_REGISTERS))).list.all()
                       | (c("registers").list.len() == 0))
    for account_id in odd["account_id"].to_list():
        reasons.setdefault(account_id, "REGISTERS")
    for account_id in frames.changed:
        reasons.setdefault(account_id, "TARIFF_OR_CATEGORY_CHANGE")
    unknown = accounts.filter(~c("tariff_id").is_in(list(catalogue.tariffs)))
    for account_id in unknown["account_id"].to_list():
        reasons.setdefault(account_id, "UNKNOWN_TARIFF")

    regs = whole.explode("registers").rename({"registers": "register"}).with_columns(
        _reg_pos=pl.int_range(pl.len()).over("account_id"))
    prev = _pick(frames.readings, fixed=billing.start_date, which="prev")
    curr = _pick(frames.readings, fixed=billing.end_date, which="curr")
    spans = regs.join(prev, on=["account_id", "meter_id", "register"], how="left").join(
        curr, on=["account_id", "meter_id", "register"], how="left")
    checks = {
        "MISSED": c("prev_reading_id").is_null() | c("curr_reading_id").is_null(),
        "READING_HELD": (c("prev_status") != "ACCEPTED") | (c("curr_status") != "ACCEPTED"),
        "ESTIMATED": c("prev_is_estimate") | c("curr_is_estimate"),
        "ROLLOVER": c("curr_value_c") < c("prev_value_c"),
    }
    for code, condition in checks.items():
        for account_id in spans.filter(condition.fill_null(False))["account_id"].unique().to_list():
            reasons.setdefault(account_id, code)
    spans = spans.filter(~c("account_id").is_in(list(reasons))).with_columns(
        use_e4=(c("curr_value_c") - c("prev_value_c")) * c("multiplier_c"))
    return spans, reasons


def _centi_half_up(e4: pl.Expr) -> pl.Expr:
    return half_up(e4, E4 // C)  # 10⁻⁴ to 0.01 kWh


def usage_rows(spans: pl.DataFrame, accounts: pl.DataFrame, ytd: pl.DataFrame, *, billing: BillingPeriod,
               catalogue: Catalogue) -> pl.DataFrame:
    """The kernel's input, one row per plain account: as `draft_bill` builds its RatingInput."""
    c = pl.col
    wide = spans.group_by("account_id").agg(
        *[c("use_e4").filter(c("register") == r).sum().alias(f"{r}_e4") for r in KNOWN_REGISTERS],
        *[(c("register") == r).any().alias(f"has_{r}") for r in KNOWN_REGISTERS],
    )
    timed_tariffs = [t for t, tariff in catalogue.tariffs.items() if tariff.versions[-1].prices.tou]
    frame = accounts.join(wide, on="account_id", how="inner").join(ytd, on="account_id", how="left")
    timed = c("tariff_id").is_in(timed_tariffs) & (c("has_PEAK") | c("has_FLAT") | c("has_VALLEY"))
    total_e4 = pl.when(c("has_TOTAL")).then(c("TOTAL_e4")).otherwise(c("PEAK_e4") + c("FLAT_e4") + c("VALLEY_e4"))
    none = pl.lit(None, dtype=pl.Int64)
    return frame.select(
        "account_id", pl.lit(billing.period).alias("period"), "tariff_id",
        pl.lit(billing.start_date).alias("start_date"), pl.lit(billing.end_date).alias("end_date"),
        pl.when(timed).then(none).otherwise(_centi_half_up(total_e4)).alias("kwh_c"),
        *[pl.when(timed).then(_centi_half_up(c(f"{r}_e4"))).otherwise(none).alias(f"{r.lower()}_c")
          for r in ("PEAK", "FLAT", "VALLEY")],
        c("ytd_c").fill_null(0).alias("ytd_c"), "household_size",
        (c("capacity_c") * 100).alias("capacity_kva_e4"),
        pl.when(c("has_REACTIVE")).then(c("REACTIVE_e4")).otherwise(none).alias("kvarh_e4"),
        total_e4.alias("total_e4"),
    )


# --- bills from kernel output -----------------------------------------------------------------------------

_dec = decimal_of


def _figures(rows: dict[str, dict], period: str) -> PeriodFigures | None:
    row = rows.get(period)
    if row is None:
        return None
    return PeriodFigures(period=period, kwh=_dec(row["kwh_c"], 2), amount_fen=int(row["amount_fen"]),
                         days=(row["end_date"] - row["start_date"]).days)


class _Tiers:
    """Thresholds in force per (tariff, household size) for this period, by the engine's `tier_thresholds`."""

    def __init__(self, catalogue: Catalogue, billing: BillingPeriod):
        self.catalogue, self.billing, self.cache = catalogue, billing, {}

    def __call__(self, tariff_id: str, household_size: int | None):
        key = (tariff_id, household_size)
        if key not in self.cache:
            from gridcounter.domain.tariffs import month_units

            version, _end = self.catalogue.get(tariff_id).version_on(self.billing.start_date)
            units = month_units(self.billing.start_date, self.billing.end_date)
            self.cache[key] = (version.prices.basis, version.tiers is not None,
                               tier_thresholds(version, household_size=household_size, units=units))
        return self.cache[key]


def _reading_json(row: dict, which: str) -> dict:
    return {"reading_id": row[f"{which}_reading_id"], "value": str(_dec(row[f"{which}_value_c"], 2)),
            "date": row[f"{which}_read_date"].isoformat(), "source": row[f"{which}_source"],
            "is_estimate": row[f"{which}_is_estimate"], "status": row[f"{which}_status"]}


def with_interval_usage(usage: pl.DataFrame, rows: dict[int, Mapping]) -> pl.DataFrame:
    """`usage_rows` with the binned interval kWh of `rows` (the accounts' `interval_usage` rows) in place of the
    registers': each time-of-use period's 0.01 kWh for a time-of-use tariff, `kwh_c` otherwise, as
    `interval_cycle_usage` bills them; the bill's kWh (`total_e4`) is their sum."""
    c = pl.col
    columns = ["kwh_c", "critical_peak_c", "peak_c", "flat_c", "valley_c"]
    if "critical_peak_c" not in usage.columns:
        usage = usage.with_columns(pl.lit(None, dtype=pl.Int64).alias("critical_peak_c"))
    if not rows:
        return usage
    frame = pl.DataFrame([{"account_id": a, **{n: row[n] for n in columns}} for a, row in rows.items()],
                         schema={"account_id": pl.Int64(), **dict.fromkeys(columns, pl.Int64())})
    frame = frame.with_columns(total_e4=pl.sum_horizontal([c(n).fill_null(0) for n in columns]) * 100)
    ids = list(rows)
    replaced = usage.filter(c("account_id").is_in(ids)).drop(*columns, "total_e4").join(frame, on="account_id")
    return pl.concat([usage.filter(~c("account_id").is_in(ids)), replaced.select(usage.columns)])


def kernel_drafts(*, usage: pl.DataFrame, spans: pl.DataFrame, lines: pl.DataFrame, totals: pl.DataFrame,
                  history: pl.DataFrame, billing: BillingPeriod, catalogue: Catalogue,
                  threshold: Decimal, intervals: dict[int, tuple] | None = None) -> list[BillDraft]:
    """BillDrafts of the kernel-rated accounts, explained by the domain's `explain()` exactly as `draft_bill` does.

    `intervals`: (kWh, holds, IntervalFacts) by account (`interval_facts`) for accounts billed from 15-minute
    intervals; none of them held.
    """
    intervals = intervals or {}
    tiers = _Tiers(catalogue, billing)
    past: dict[int, dict[str, dict]] = defaultdict(dict)
    for row in history.iter_rows(named=True):
        past[row["account_id"]][row["period"]] = row
    span_rows: dict[int, list[dict]] = defaultdict(list)
    for row in spans.sort("account_id", "_reg_pos").iter_rows(named=True):
        span_rows[row["account_id"]].append(row)
    line_rows: dict[int, list[dict]] = defaultdict(list)
    for row in lines.iter_rows(named=True):
        line_rows[row["account_id"]].append(row)
    rated = usage.join(totals.select("account_id", "amount_fen"), on="account_id")
    drafts = []
    for row in rated.iter_rows(named=True):
        account_id = row["account_id"]
        kwh_total = _dec(row["total_e4"], 4)
        amount_fen = row["amount_fen"]
        history_rows = past.get(account_id, {})
        previous = _figures(history_rows, billing.previous)
        last_year = _figures(history_rows, billing.last_year)
        recent = [f for f in (_figures(history_rows, p) for p in billing.recent) if f is not None]
        basis, tiered, thresholds = tiers(row["tariff_id"], row["household_size"])
        tier = None
        if tiered:
            ytd = _dec(row["ytd_c"], 2)
            used = sum((_dec(row[f"{n}_c"], 2) for n in ("kwh", "critical_peak", "peak", "flat", "valley")
                        if row.get(f"{n}_c") is not None), Decimal(0))
            before = ytd if basis is TierBasis.ANNUAL else Decimal("0.00")
            tier = tier_status(basis=basis, thresholds=thresholds, before=before, after=before + used)
        segments = [TariffSegment(row["tariff_id"], "", billing.start_date, billing.end_date)]
        binned = intervals.get(account_id)
        interval = None if binned is None else binned[2]
        if binned is not None:  # as CycleUsage.total_kwh of the binned kWh (0.01 kWh)
            kwh_total = sum(binned[0].values(), Decimal(0))
        ctx = BillContext(period=billing.period, start_date=billing.start_date, end_date=billing.end_date,
                          kwh=kwh_total, amount_fen=amount_fen, previous=previous, last_year=last_year, tier=tier,
                          price_changes=price_changes(tariffs=catalogue.tariffs, segments=segments),
                          intervals=interval)
        ctx.shock = assess_shock(amount_fen=amount_fen, days=billing.days, last_year=last_year, recent=recent,
                                 previous=previous, explaining_codes=explaining_codes(ctx), threshold_pct=threshold,
                                 kwh=kwh_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        hold_codes = ["BILL_SHOCK"] if ctx.shock.is_shock else []
        readings: dict[str, list[dict]] = {}
        reading_ids: list[int] = []
        for span in span_rows[account_id]:
            readings.setdefault(span["register"], []).append({
                "meter": span["asset_number"], "multiplier": str(_dec(span["multiplier_c"], 2)),
                "digits": span["digits"], "previous": _reading_json(span, "prev"),
                "current": _reading_json(span, "curr")})
            reading_ids += [span["prev_reading_id"], span["curr_reading_id"]]
        shock = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in ctx.shock.__dict__.items()}
        drafts.append(BillDraft(
            account_id=account_id, period=billing.period, start_date=billing.start_date, end_date=billing.end_date,
            status="HELD" if hold_codes else "ISSUED", tariff_id=row["tariff_id"],
            kwh=kwh_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), amount_fen=amount_fen,
            is_estimate=interval is not None and interval.estimated > 0, hold_codes=hold_codes, readings=readings,
            explanation=[r.as_dict() for r in explain(ctx)],
            facts={"engine": "KERNEL", "ytd_kwh": str(_dec(row["ytd_c"], 2)), "shock": shock},
            lines=[], reading_ids=reading_ids,
        ))
        drafts[-1]._kernel_lines = line_rows.get(account_id, [])  # type: ignore[attr-defined]
    return drafts


# --- writing ----------------------------------------------------------------------------------------------

def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, cls=_Encoder)


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal | date):
            return str(o)
        return super().default(o)


def _db_date(value: date | None):
    if value is None:
        return None
    return value if connection.vendor == "postgresql" else value.isoformat()


def _db_datetime(value: datetime):
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)


def _db_decimal(value: Decimal):
    return value if connection.vendor == "postgresql" else str(value)


# --- bills as frames ----------------------------------------------------------------------------------------

BILL_COLUMNS = ("account_id", "status", "tariff_id", "kwh", "amount_fen", "is_estimate", "hold_codes", "readings",
                "explanation", "facts", "is_shock")
LINE_COLUMNS = ("account_id", "position", "code", "description", "description_en", "quantity", "unit", "unit_price",
                "amount_fen", "tier", "tou_period", "segment_start_date", "segment_end_date")
BILL_SCHEMA = {"account_id": pl.Int64(), "status": pl.String(), "tariff_id": pl.String(), "kwh": pl.String(),
               "amount_fen": pl.Int64(), "is_estimate": pl.Boolean(), "hold_codes": pl.String(),
               "readings": pl.String(), "explanation": pl.String(), "facts": pl.String(), "is_shock": pl.Boolean()}
LINE_SCHEMA_OUT = {"account_id": pl.Int64(), "position": pl.Int64(), "code": pl.String(), "description": pl.String(),
                   "description_en": pl.String(), "quantity": pl.String(), "unit": pl.String(),
                   "unit_price": pl.String(), "amount_fen": pl.Int64(), "tier": pl.Int64(), "tou_period": pl.String(),
                   "segment_start_date": pl.Date(), "segment_end_date": pl.Date()}


_fixed = fixed_text


def _readings_json(spans: pl.DataFrame) -> pl.DataFrame:
    """The bill's `readings` JSON per account: {register: [meter, multiplier, digits, previous, current], _reading_ids}."""
    c = pl.col

    def reading(which: str) -> pl.Expr:
        return pl.struct(reading_id=c(f"{which}_reading_id"), value=_fixed(c(f"{which}_value_c"), 2),
                         date=c(f"{which}_read_date").dt.strftime("%Y-%m-%d"), source=c(f"{which}_source"),
                         is_estimate=c(f"{which}_is_estimate"), status=c(f"{which}_status"))

    per_register = spans.sort("account_id", "_reg_pos").select(
        "account_id",
        pl.concat_str([c("register").str.replace_all('"', '\\"', literal=True), pl.lit('": ['),
                       pl.struct(meter=c("asset_number"), multiplier=_fixed(c("multiplier_c"), 2), digits=c("digits"),
                                 previous=reading("prev"), current=reading("curr")).struct.json_encode(),
                       pl.lit("]")]).alias("_part"),
        pl.concat_str([c("prev_reading_id").cast(pl.String), pl.lit(", "), c("curr_reading_id").cast(pl.String)])
        .alias("_ids"))
    return per_register.group_by("account_id", maintain_order=True).agg(
        pl.concat_str([pl.lit('{"'), c("_part").str.join(', "'), pl.lit(', "_reading_ids": ['), c("_ids").str.join(", "),
                       pl.lit("]}")]).alias("readings"))


def _history_columns(history: pl.DataFrame, *, billing: BillingPeriod) -> pl.DataFrame:
    """Earlier bills per account as columns: previous period, same period last year, two and three periods back."""
    c = pl.col
    out = history.select("account_id").unique()
    for prefix, wanted in (("prev", billing.previous), ("ly", billing.last_year), ("r2", billing.back(2)),
                           ("r3", billing.back(3))):
        part = history.filter(c("period") == wanted).unique("account_id", keep="last").select(
            "account_id", c("kwh_c").alias(f"{prefix}_kwh_c"), c("amount_fen").alias(f"{prefix}_amount_fen"),
            (c("end_date") - c("start_date")).dt.total_days().cast(pl.Int64).alias(f"{prefix}_days"))
        out = out.join(part, on="account_id", how="left")
    return out


def vector_bills(*, usage: pl.DataFrame, spans: pl.DataFrame, lines: pl.DataFrame, totals: pl.DataFrame,
                 history: pl.DataFrame, billing: BillingPeriod, catalogue: Catalogue,
                 threshold: Decimal) -> tuple[pl.DataFrame, pl.DataFrame, list[int]]:
    """Bills (BILL_SCHEMA) and lines (LINE_SCHEMA_OUT) of kernel-rated accounts, explained by `explain_frame`.

    Returns (bills, lines, account ids the frame explanation leaves to `explain()`: see billing.explanation_frame).
    """
    c = pl.col
    if usage.is_empty():
        return pl.DataFrame(schema=BILL_SCHEMA), pl.DataFrame(schema=LINE_SCHEMA_OUT), []
    timed_changes = {t for t in usage["tariff_id"].unique().to_list()
                     if price_changes(tariffs=catalogue.tariffs,
                                      segments=[TariffSegment(t, "", billing.start_date, billing.end_date)])}
    hist = _history_columns(history, billing=billing)
    frame = usage.join(totals.select("account_id", "amount_fen"), on="account_id").join(
        hist, on="account_id", how="left").with_columns(
        used_c=pl.sum_horizontal([c(n).fill_null(0) for n in ("kwh_c", "peak_c", "flat_c", "valley_c")]))
    for name, dtype in EXPLAIN_INPUT.items():
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(name))
    keys = frame.select("tariff_id", "household_size").unique().rows()
    tiers = tier_table(catalogue=catalogue, keys=keys, start_date=billing.start_date, end_date=billing.end_date)
    explained = explain_frame(frame.select(list(EXPLAIN_INPUT)), tiers=tiers, period=billing.period,
                              previous_period=billing.previous, last_year_period=billing.last_year,
                              start_date=billing.start_date, end_date=billing.end_date, threshold_pct=threshold)
    python = set(explained.filter(c("explain_in_python") | c("account_id").is_in(
        frame.filter(c("tariff_id").is_in(list(timed_changes)))["account_id"].to_list()))["account_id"].to_list())
    bills = frame.select("account_id", "tariff_id", "total_e4", "amount_fen").join(
        explained, on="account_id").join(_readings_json(spans), on="account_id", how="left").filter(
        ~c("account_id").is_in(list(python))).select(
        "account_id", "status", "tariff_id", _fixed((c("total_e4") * 2 + 100) // 200, 2).alias("kwh"), "amount_fen",
        pl.lit(False).alias("is_estimate"), "hold_codes", "readings", "explanation", "facts", "is_shock")
    line_out = lines.filter(c("account_id").is_in(bills["account_id"].to_list())).select(
        "account_id", (c("position") + 1).cast(pl.Int64).alias("position"), "code",
        c("description").str.slice(0, 200), c("description_en").str.slice(0, 200),
        _fixed(c("quantity_e4"), 4).alias("quantity"), "unit",
        _fixed(_half_up_signed(c("unit_price_e8").cast(pl.Int128), 100), 6).alias("unit_price"),
        c("amount_fen").cast(pl.Int64), c("tier").cast(pl.Int64), c("tou_period").fill_null(""),
        "segment_start_date", "segment_end_date")
    return bills.cast(BILL_SCHEMA), line_out.cast(LINE_SCHEMA_OUT), sorted(python)


def _half_up_signed(n: pl.Expr, d: int) -> pl.Expr:
    return half_up(n.cast(pl.Int128), d)


def draft_frames(drafts: list[BillDraft]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bills and lines of drafts made in Python (per-account path, or explained by `explain()`)."""
    bills, lines = [], []
    for d in drafts:
        bills.append((d.account_id, d.status, d.tariff_id, str(d.kwh), d.amount_fen, d.is_estimate,
                       _json(d.hold_codes), _json({**d.readings, "_reading_ids": d.reading_ids}),
                       _json(d.explanation), _json(d.facts), bool(d.is_shock)))
        kernel_lines = getattr(d, "_kernel_lines", None)
        if kernel_lines is not None:
            for line in kernel_lines:
                lines.append((d.account_id, line["position"] + 1, line["code"], line["description"][:200],
                              line["description_en"][:200], str(_dec(line["quantity_e4"], 4)), line["unit"],
                              str(_dec(line["unit_price_e8"], 8).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)),
                              line["amount_fen"], line["tier"], line["tou_period"] or "", line["segment_start_date"],
                              line["segment_end_date"]))
        else:
            for line in d.lines:
                lines.append((d.account_id, line.position, line.code, line.description, line.description_en,
                              str(Decimal(line.quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
                              line.unit, str(Decimal(line.unit_price).quantize(Decimal("0.000001"),
                                                                              rounding=ROUND_HALF_UP)),
                              line.amount_fen, line.tier, line.tou_period, line.segment_start_date,
                              line.segment_end_date))
    return (pl.DataFrame(bills, schema=BILL_SCHEMA, orient="row"),
            pl.DataFrame(lines, schema=LINE_SCHEMA_OUT, orient="row"))


# --- writing frames ---------------------------------------------------------------------------------------

def copy_frame(model_or_table, frame: pl.DataFrame) -> None:
    """Insert `frame` (columns named as the table's columns) in one COPY (PostgreSQL, CSV text from Polars, no
    Python object per row) or one executemany (SQLite)."""
    table = model_or_table if isinstance(model_or_table, str) else model_or_table._meta.db_table
    if frame.is_empty():
        return
    qn = connection.ops.quote_name
    names = ", ".join(qn(n) for n in frame.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            data = frame.write_csv(include_header=False, null_value="\\N", datetime_format="%Y-%m-%d %H:%M:%S%.f%z")
            with cursor.cursor.copy(f"COPY {qn(table)} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                copy.write(data.encode())
        else:
            marks = ", ".join(["?"] * frame.width)
            raw = cursor.cursor  # the sqlite3 cursor: no per-row placeholder rewriting
            raw.executemany(f"INSERT INTO {qn(table)} ({names}) VALUES ({marks})", frame.iter_rows())


def _date_col(value: date | None) -> pl.Expr:
    if value is None:
        return pl.lit(None, dtype=pl.String if connection.vendor == "sqlite" else pl.Date)
    return pl.lit(value.isoformat()) if connection.vendor == "sqlite" else pl.lit(value)


def _dates(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    if connection.vendor != "sqlite":
        return frame
    return frame.with_columns([pl.col(n).dt.strftime("%Y-%m-%d") for n in names])


def _stamp(value: datetime) -> pl.Expr:
    """A timestamp as each backend stores it (SQLite: naive UTC text; PostgreSQL: text with offset)."""
    if connection.vendor == "sqlite":
        return pl.lit(str(connection.ops.adapt_datetimefield_value(value)))
    return pl.lit(value.astimezone(UTC).isoformat())


@dataclass(frozen=True)
class RowActor:
    """Who the run's rows name (history, entries, audit events), as plain values a reading process can be given."""

    user_id: int | None = None
    username: str = ""
    hall_id: int | None = None
    channel: str = "SYSTEM"
    reason: str = ""

    @classmethod
    def current(cls) -> RowActor:
        actor = current_actor()
        return cls(user_id=actor.user_id, username=actor.username, hall_id=actor.hall_id,
                   channel=actor.channel, reason=actor.reason)


# The tables a batch writes, in write order, and their columns made from the batch's new ids. In `run_rows` frames
# such a column holds a relative id (0 for the batch's first row of that kind); `absolute_rows` (Polars) and
# `insert_staged` (SQL) add the ids allocated in the writing transaction. A column given as (kind, tail) is text:
# the frame holds the text before the id, and the relative id in "<column>__id"; the id and `tail` follow it.
# Kind "run" is the route's BillRun, looked up by route id.
RUN_TABLES: dict[str, dict[str, str | tuple[str, str]]] = {
    Bill._meta.db_table: {"id": "bill", "run_id": "run"},
    Bill.history.model._meta.db_table: {"id": "bill", "history_id": "history", "run_id": "run"},
    BillLine._meta.db_table: {"id": "line", "bill_id": "bill"},
    JournalEntry._meta.db_table: {"id": "entry", "source_id": ("bill", ""), "idempotency_key": ("bill", "")},
    AuditEvent._meta.db_table: {"id": "event", "object_id": ("entry", ""), "detail": ("bill", '"}')},
    Posting._meta.db_table: {"id": "posting", "entry_id": "entry"},
}
TABLE_COLUMNS = {m._meta.db_table: [f.column for f in m._meta.concrete_fields]
                 for m in (Bill, Bill.history.model, BillLine, JournalEntry, AuditEvent, Posting)}
# the kind of each allocated id: its table and column (each row of that table draws one)
ID_KINDS = {"bill": (Bill._meta.db_table, "id"), "history": (Bill.history.model._meta.db_table, "history_id"),
            "line": (BillLine._meta.db_table, "id"), "entry": (JournalEntry._meta.db_table, "id"),
            "event": (AuditEvent._meta.db_table, "id"), "posting": (Posting._meta.db_table, "id")}
STAGE = "bill_run_stage"  # the schema name a staged batch's file is attached under


def run_rows(*, bills: pl.DataFrame, lines: pl.DataFrame, route_of: pl.DataFrame, billing: BillingPeriod,
             as_of: date, created_at: datetime, due_days: int, actor: RowActor) -> dict[str, pl.DataFrame]:
    """A batch's rows for each of RUN_TABLES, with relative ids: bills (and their history rows), lines, and for
    issued bills the journal entry, its audit event and two postings. The entries are those `ledger.post_bills`
    writes (key `bill:<id>`). `bills` in write order; `route_of` gives (account_id, route_id, number). Pure: no
    database access, so that a reading process can make them."""
    c = pl.col
    n = bills.height
    bills = bills.with_columns(pl.int_range(n, dtype=pl.Int64).alias("id")).join(
        route_of, on="account_id", how="left", maintain_order="left")
    issued = c("status") == "ISSUED"
    due = as_of + timedelta(days=due_days)
    when = _stamp(created_at)
    bill_table = bills.select(
        "id", "account_id", pl.lit(billing.period).alias("period"), _date_col(billing.start_date).alias("start_date"),
        _date_col(billing.end_date).alias("end_date"), "status", "tariff_id", "kwh", "amount_fen", "is_estimate",
        "hold_codes", "readings", "explanation", "facts",
        pl.when(issued).then(_date_col(as_of)).otherwise(_date_col(None)).alias("issued_date"),
        pl.when(issued).then(_date_col(due)).otherwise(_date_col(None)).alias("due_date"),
        pl.lit(None, dtype=pl.Int64).alias("replaces_id"), c("route_id").alias("run_id"), when.alias("created_at"))
    history = bill_table.with_columns(
        pl.lit(actor.hall_id, dtype=pl.Int64).alias("history_hall_id"), pl.lit(actor.channel).alias("history_channel"),
        c("id").alias("history_id"), when.alias("history_date"),
        pl.lit((actor.reason or "bill run")[:100]).alias("history_change_reason"), pl.lit("+").alias("history_type"),
        pl.lit(actor.user_id, dtype=pl.Int64).alias("history_user_id"))
    line_table = lines.join(bills.select("account_id", c("id").alias("bill_id")), on="account_id").sort(
        "bill_id", "position")
    line_table = _dates(line_table.with_columns(pl.int_range(line_table.height, dtype=pl.Int64).alias("id")),
                        ["segment_start_date", "segment_end_date"])
    posted = bills.filter(issued)
    posted = posted.with_columns(pl.int_range(posted.height, dtype=pl.Int64).alias("entry_id"))
    entries = posted.select(
        c("entry_id").alias("id"), pl.lit(JournalEntry.Kind.BILL.value).alias("kind"), "account_id",
        _date_col(as_of).alias("effective_date"), when.alias("created_at"),
        pl.lit(f"Bill {billing.period}"[:300]).alias("description"), pl.lit("billing.Bill").alias("source_type"),
        pl.lit("").alias("source_id"), c("id").alias("source_id__id"), pl.lit(None, dtype=pl.Int64).alias("reverses_id"),
        pl.lit("bill:").alias("idempotency_key"), c("id").alias("idempotency_key__id"),
        pl.lit(actor.user_id, dtype=pl.Int64).alias("created_by_id"), pl.lit(actor.hall_id, dtype=pl.Int64)
        .alias("hall_id"), pl.lit(actor.reason, dtype=pl.String).alias("reason"))
    number = c("number").str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    template = bill_posting_template()  # the ledger's rule for a bill's postings (`ledger.bill_lines`)
    signed = [(code, customer, c("amount_fen") if sign > 0 else -c("amount_fen")) for code, customer, sign in template]
    postings_json = []
    for k, (code, customer, amount) in enumerate(signed):
        postings_json += [pl.lit(("" if k == 0 else ", ") + f'["{code}", ' + ('"' if customer else "null, "))]
        postings_json += [number, pl.lit('", ')] if customer else []
        postings_json += [amount.cast(pl.String), pl.lit("]")]
    events = posted.select(
        c("entry_id").alias("id"), when.alias("occurred_at"), pl.lit("LEDGER_ENTRY_POSTED").alias("action"),
        pl.lit(actor.user_id, dtype=pl.Int64).alias("user_id"), pl.lit(actor.username).alias("username"),
        pl.lit(actor.hall_id, dtype=pl.Int64).alias("hall_id"), pl.lit(actor.channel).alias("channel"),
        pl.lit(JournalEntry._meta.label).alias("object_type"), pl.lit("").alias("object_id"),
        c("entry_id").alias("object_id__id"), pl.lit(actor.reason, dtype=pl.String).alias("reason"),
        pl.concat_str([pl.lit('{"kind": "BILL", "account": "'), number,
                       pl.lit(f'", "effective_date": "{as_of.isoformat()}", "postings": ['), *postings_json,
                       pl.lit('], "source": "billing.Bill:')]).alias("detail"),
        c("id").alias("detail__id"), pl.lit(None, dtype=pl.String).alias("ip_address"))
    postings = pl.concat([
        posted.select(c("entry_id"), pl.lit(code).alias("ledger_account"),
                      c("account_id") if customer else pl.lit(None, dtype=pl.Int64).alias("account_id"),
                      amount.alias("amount_fen"), pl.lit(k).alias("_k"))
        for k, (code, customer, amount) in enumerate(signed)]).sort("entry_id", "_k").drop("_k")
    bad = unbalanced_entries(postings)  # `check_balanced` on every entry of the batch, before anything is written
    if bad:
        first = posted.filter(c("entry_id") == bad[0][0])["number"][0]
        raise UnbalancedEntry(f"bill run {billing.period}: {len(bad)} bills' entries do not balance; account "
                              f"{first}'s has {bad[0][1]} postings summing to {bad[0][2]:+d} fen")
    postings = postings.with_columns(pl.int_range(postings.height, dtype=pl.Int64).alias("id"))
    frames = dict(zip(RUN_TABLES, (bill_table, history, line_table, entries, events, postings), strict=True))
    return {table: frame.select(_staged_columns(table)) for table, frame in frames.items()}


def _staged_columns(table: str) -> list[str]:
    """The columns of a `run_rows` frame: the table's, each text column made from an id followed by its id."""
    names = []
    for column in TABLE_COLUMNS[table]:
        names.append(column)
        kind = RUN_TABLES[table].get(column)
        if kind is not None and _id_parts(column, kind)[1] is not None:
            names.append(f"{column}__id")
    return names


def _id_parts(column: str, kind: str | tuple[str, str]) -> tuple[str, str | None, str]:
    """(kind of id, text after it or None for an id column, the frame column holding the relative id)."""
    if isinstance(kind, str):
        return kind, None, column
    return kind[0], kind[1], f"{column}__id"


def row_counts(rows: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    return {table: frame.height for table, frame in rows.items()}


def allocate_run_ids(counts: Mapping[str, int]) -> dict[str, Sequence[int]]:
    """Fresh ids of each kind for a batch whose RUN_TABLES hold `counts` rows, inside the writing transaction."""
    return {kind: allocate_column_ids(table, column, counts[table])
            for kind, (table, column) in ID_KINDS.items()}


def absolute_rows(table: str, frame: pl.DataFrame, *, ids: Mapping[str, Sequence[int]],
                  runs: Mapping[int, int]) -> pl.DataFrame:
    """A `run_rows` frame with the allocated ids in place of the relative ones, in the table's columns."""
    c = pl.col
    columns = []
    for column, kind in RUN_TABLES[table].items():
        base, tail, relative_column = _id_parts(column, kind)
        relative = c(relative_column)
        if base == "run":
            value = relative.replace_strict(dict(runs), return_dtype=pl.Int64)
        elif isinstance(ids[base], range):
            value = relative + ids[base].start
        else:  # PostgreSQL, when someone else drew from the sequence meanwhile
            value = pl.lit(pl.Series(list(ids[base]), dtype=pl.Int64)).gather(relative)
        if tail is not None:
            value = pl.concat_str([c(column), value.cast(pl.String), pl.lit(tail)])
        columns.append(value.alias(column))
    return frame.with_columns(columns).select(TABLE_COLUMNS[table])


def stage_rows(path: str, rows: Mapping[str, pl.DataFrame]) -> None:
    """Write `run_rows` frames into a new SQLite file at `path`, one table each, through ADBC (values bound from
    Arrow columns in C, not one Python call per row). No journal, no sync: a scratch file, thrown away after use."""
    import adbc_driver_sqlite.dbapi as adbc

    for suffix in ("", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)
    with adbc.connect(path, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        for table, frame in rows.items():
            cursor.adbc_ingest(table, frame.to_arrow(compat_level=pl.CompatLevel.oldest()), mode="create")


def insert_staged(counts: Mapping[str, int], *, ids: Mapping[str, Sequence[int]], runs: Mapping[int, int]) -> None:
    """SQLite: copy a staged batch (`stage_rows`, attached as STAGE) into the run tables, one INSERT … SELECT per
    table, with the allocated ids (consecutive under the write lock) added to the relative ones."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table, spec in RUN_TABLES.items():
            if not counts[table]:
                continue
            select = []
            for column in TABLE_COLUMNS[table]:
                kind = spec.get(column)
                if kind is None:
                    select.append(qn(column))
                    continue
                base, tail, relative_column = _id_parts(column, kind)
                relative = qn(relative_column)
                if base == "run":
                    value = f"CASE {relative}{''.join(f' WHEN {int(r)} THEN {int(i)}' for r, i in runs.items())} END"
                elif isinstance(ids[base], range):  # SQLite allocates above max(id), under the write lock
                    value = f"({relative} + {int(ids[base].start)})"
                else:
                    raise ValueError(f"{base} ids are not consecutive")
                if tail is not None:
                    value = f"{qn(column)} || {value}" + (" || '{}'".format(tail.replace("'", "''")) if tail else "")
                select.append(value)
            names = ", ".join(qn(n) for n in TABLE_COLUMNS[table])
            raw.execute(f"INSERT INTO main.{qn(table)} ({names}) SELECT {', '.join(select)} "
                        f"FROM {STAGE}.{qn(table)} ORDER BY rowid")


def write_frames(*, bills: pl.DataFrame, lines: pl.DataFrame, runs: dict[int, int], route_of: pl.DataFrame,
                 billing: BillingPeriod, as_of: date, created_at: datetime, due_days: int,
                 staged: Mapping[str, int] | None = None) -> pl.DataFrame:
    """Write a batch's bills and their rows (`run_rows`): made here and written with COPY / executemany, or, with
    `staged` (the row counts of a batch a reading process staged, attached as STAGE), copied from the stage.
    `runs` maps route id to its BillRun id. Returns the bills with their route_id."""
    if staged is None:
        rows = run_rows(bills=bills, lines=lines, route_of=route_of, billing=billing, as_of=as_of,
                        created_at=created_at, due_days=due_days, actor=RowActor.current())
        ids = allocate_run_ids(row_counts(rows))
        for table, frame in rows.items():
            copy_frame(table, absolute_rows(table, frame, ids=ids, runs=runs))
    else:
        insert_staged(staged, ids=allocate_run_ids(staged), runs=runs)
    return bills.join(route_of, on="account_id", how="left", maintain_order="left")


# --- the run ----------------------------------------------------------------------------------------------

BATCH_ACCOUNTS = 20_000  # accounts per transaction (whole routes of one fixed reading day)


def plan_batches(*, period: str, as_of: date, route_codes: list[str] | None = None,
                 batch_accounts: int = BATCH_ACCOUNTS) -> tuple[list[list[Route]], int]:
    """Due routes in batches (whole routes with the same fixed reading day, about `batch_accounts` accounts each),
    and the number of accounts on routes not yet due. Raises: billing.UnknownRoute."""
    routes = Route.objects.order_by("code")
    if route_codes is not None:
        routes = routes.filter(code__in=route_codes)
        missing = set(route_codes) - set(routes.values_list("code", flat=True))
        if missing:
            raise per_account.UnknownRoute(f"no reading route {sorted(missing)[0]!r}")
    sizes = dict(Account.objects.exclude(status=Account.Status.PENDING).filter(route__in=routes)
                 .values("route_id").annotate(n=Count("id")).values_list("route_id", "n"))
    by_day: dict[int, list[Route]] = defaultdict(list)
    not_due = 0
    for route in routes:
        if not is_due(billing=billing_period(period=period, reading_day=route.reading_day), as_of=as_of):
            not_due += sizes.get(route.pk, 0)
        else:
            by_day[route.reading_day].append(route)
    batches: list[list[Route]] = []
    for day in sorted(by_day):
        batch, size = [], 0
        for route in by_day[day]:
            if batch and size + sizes.get(route.pk, 0) > batch_accounts:
                batches.append(batch)
                batch, size = [], 0
            batch.append(route)
            size += sizes.get(route.pk, 0)
        if batch:
            batches.append(batch)
    return batches, not_due


def default_threads() -> int:
    """Batches one process bills at once: two on PostgreSQL with two cores or more, so that one batch's Python
    work (reading frames, rating, explaining, writing CSV) runs while the database works on another's rows; one on
    SQLite (a single writer) and inside an open transaction (another connection would not see its rows)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return min(2, os.cpu_count() or 1)


def run_bills_fast(*, period: str, as_of: date, created_at: datetime, route_code: str | None = None,
                   route_codes: list[str] | None = None, catalogue: Catalogue | None = None,
                   due_days: int | None = None, shock_threshold_pct: Decimal | None = None,
                   batch_accounts: int = BATCH_ACCOUNTS, threads: int | None = None,
                   read_ahead: bool | None = None, progress: Callable[[int], None] | None = None) -> FastRunSummary:
    """Bill every due route (or those named) for `period` with the kernel; same bills as `billing.run_bills`.

    Routes go in batches of whole routes with the same fixed reading day (about `batch_accounts` accounts),
    each batch in one transaction: a crash loses at most the batches in flight, and a rerun bills exactly the
    accounts that have no live bill yet (the unique constraint `bill_one_live_per_period` is the last guard).
    `threads` batches run at once, each on its own connection (default: `default_threads()`); batches hold
    different routes, so their transactions touch different rows. On one thread, `read_ahead` (default:
    `can_read_ahead()`, a SQLite file) reads, rates and stages the next batches in reading processes while this
    one writes (`_run_reading_ahead`). `progress(n)` is called with the accounts not due, then with the accounts done
    (billed or skipped) per batch.

    Raises: InvalidPeriod, billing.UnknownRoute, CatalogueError.
    """
    started = time.perf_counter()
    parse_period(period)
    if route_code:
        route_codes = [route_code]
    catalogue = catalogue or per_account._catalogue()
    batches, not_due = plan_batches(period=period, as_of=as_of, route_codes=route_codes,
                                    batch_accounts=batch_accounts)
    summary = FastRunSummary(period=period, not_due=not_due)
    if progress and not_due:
        progress(not_due)
    threads = default_threads() if threads is None else threads
    if threads > 1 and connection.in_atomic_block:
        raise ValueError("a bill run on several threads commits batch by batch: call it outside a transaction")

    def bill(batch: list[Route]) -> FastRunSummary:
        return run_batch_fast(routes=batch, period=period, as_of=as_of, created_at=created_at, catalogue=catalogue,
                              due_days=due_days, shock_threshold_pct=shock_threshold_pct)

    def done(result: FastRunSummary) -> None:
        summary.add(result)
        if progress:
            progress(result.issued + result.held + result.skipped)

    if threads <= 1 and len(batches) > 1 and (can_read_ahead() if read_ahead is None else read_ahead):
        _run_reading_ahead(batches, period=period, as_of=as_of, created_at=created_at, catalogue=catalogue,
                           due_days=due_days, shock_threshold_pct=shock_threshold_pct, done=done)
        summary.seconds = time.perf_counter() - started
        return summary
    if threads <= 1 or len(batches) <= 1:
        for batch in batches:
            done(bill(batch))
        summary.seconds = time.perf_counter() - started  # the run's wall time, planning included
        return summary

    def in_thread(batch: list[Route]) -> FastRunSummary:
        try:
            return bill(batch)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bill-run") as pool:
        # each batch runs in a copy of the caller's context: the acting user, hall and reason of the run
        futures = [pool.submit(contextvars.copy_context().run, in_thread, batch) for batch in batches]
        try:
            for future in as_completed(futures):
                done(future.result())
        except BaseException:
            for future in futures:
                future.cancel()  # batches not started yet; those running finish (or roll back) on their own
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def can_read_ahead() -> bool:
    """Whether a one-thread run can read the next batch while writing one: SQLite in a file in WAL mode (readers
    see the last commit while a writer works), outside a transaction (another connection would not see its rows).
    PostgreSQL overlaps batches with threads instead (`default_threads`)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block or connection.is_in_memory_db():
        return False
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        return str(cursor.fetchone()[0]).lower() == "wal"


def _data_version() -> int:
    """SQLite's count of commits made by other connections, as this connection last saw it."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA data_version")
        return cursor.fetchone()[0]


READERS = 2  # reading processes of a SQLite run: batches read ahead at once


def _run_reading_ahead(batches: list[list[Route]], *, period: str, as_of: date, created_at: datetime,
                       catalogue: Catalogue, due_days: int | None, shock_threshold_pct: Decimal | None,
                       done: Callable[[FastRunSummary], None], readers: int = READERS) -> None:
    """Bill batches one after another on this connection while reading processes read, rate and stage the next.

    SQLite has one writer, but in WAL mode a reader sees the last commit while the writer works, so the next
    batches' reading, rating and explaining overlap this batch's writes and commit. A reading process reads
    through ADBC (Arrow columns, no Python object per value), makes the batch's rows (`run_rows`) and writes them
    into a scratch SQLite file next to the database (its disk holds those rows anyway), again through ADBC
    (`stage_rows`); this connection attaches that file before the batch's transaction and copies the rows with
    one INSERT … SELECT per table, adding the ids it allocates (`insert_staged`): no Python call per row on the
    writing side. Each batch is still billed by `run_batch_fast`, in one transaction with its routes locked;
    `_ReadAhead.take` gives it the batch as read ahead. `readers` processes are started once per run, each
    reading every other batch: reading a batch costs about as much as writing one, and the writer's waits leave
    a core free.
    """
    due_days, threshold = per_account.run_limits(due_days, shock_threshold_pct)
    work = {"period": period, "catalogue": catalogue, "threshold": threshold}
    rows = {"as_of": as_of, "created_at": created_at, "due_days": due_days, "actor": RowActor.current()}
    database = str(Path(connection.settings_dict["NAME"]).resolve())
    _remove_stale_scratch(Path(database).parent)
    with ProcessPoolExecutor(max_workers=readers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=readahead.start, initargs=(settings.SETTINGS_MODULE, database)) as pool, \
            tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=Path(database).parent) as scratch:
        reader = _ReadAhead(pool=pool, batches=batches, depth=readers, work=work, rows=rows, scratch=scratch)
        try:
            for i, batch in enumerate(batches):
                reader.attach(i)
                try:
                    done(run_batch_fast(routes=batch, period=period, as_of=as_of, created_at=created_at,
                                        catalogue=catalogue, due_days=due_days, shock_threshold_pct=threshold,
                                        read_ahead=lambda i=i: reader.take(i)))
                finally:
                    reader.detach()
        finally:
            reader.cancel()


SCRATCH_PREFIX = ".bill-run-"  # next to the database: <prefix><pid of the run>-<random>/batch-<n>.sqlite3


def _remove_stale_scratch(folder: Path) -> None:
    """Delete the scratch folders of runs that ended without cleaning up (a run killed with SIGKILL)."""
    for path in folder.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = path.name.removeprefix(SCRATCH_PREFIX).split("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


class _ReadAhead:
    """The batches handed to the reading processes, and the one read ahead for the next transaction.

    Batches are handed over inside a batch's transaction: while this connection holds the write lock nobody else
    commits, so the reads see the database as this batch found it, or later. When a batch's own transaction
    begins, `PRAGMA data_version` tells whether another connection has committed since it was handed over (a
    clerk's reading or payment, another run); if so, what was read ahead (and staged) is thrown away and the batch
    is read again under its own lock and written from here. This connection's own commits (batches, held bills
    re-validated) touch other routes. If a reading process dies, the run goes on without reading ahead, each batch
    read under its own lock.

    A staged batch's file is attached before its transaction begins (SQLite attaches outside transactions) and
    detached and deleted after it ends; each batch has its own file.
    """

    def __init__(self, *, pool: ProcessPoolExecutor, batches: list[list[Route]], depth: int, work: dict, rows: dict,
                 scratch: str) -> None:
        self.pool: ProcessPoolExecutor | None = pool
        self.batches = batches
        self.depth = depth
        self.work = work
        self.rows = rows
        self.scratch = scratch
        self.handed = 1  # the next batch to hand over (the first is read by the run itself)
        self.ahead: dict[int, tuple] = {}  # batch index: (future, data_version when handed over)
        self.ready: PreparedBatch | None = None  # the batch read ahead, for the next transaction
        self.version: int | None = None  # data_version when it was handed over
        self.attached: str | None = None

    def _stopped(self) -> None:
        # a reading process died (killed, out of memory): the run goes on reading each batch itself
        logger.warning("bill run %s: a reading process stopped; the run goes on without reading ahead",
                       self.work["period"])
        self.pool = None
        # batches already read ahead are still billed from what was read; the others are read here
        self.ahead = {i: (future, version) for i, (future, version) in self.ahead.items()
                      if future.done() and not future.cancelled() and future.exception() is None}

    def attach(self, index: int) -> None:
        """Before batch `index`'s transaction: wait for it to be read ahead, and attach the file it was staged in."""
        if index not in self.ahead:
            return
        future, self.version = self.ahead.pop(index)
        try:
            self.ready = future.result()
        except BrokenProcessPool:
            self.ready = None
            self._stopped()
            return
        except Exception:  # the reading process failed on this batch (a full disk, …): it is read here
            logger.exception("bill run %s: reading batch %s ahead failed; it is read by the run itself",
                             self.work["period"], index)
            self.ready = None
            return
        if self.ready.stage_path:
            with connection.cursor() as cursor:
                cursor.execute(f"ATTACH DATABASE %s AS {STAGE}", [self.ready.stage_path])
            self.attached = self.ready.stage_path

    def detach(self) -> None:
        """After the batch's transaction: detach its stage and delete it."""
        self.ready = None
        if self.attached:
            with connection.cursor() as cursor:
                cursor.execute(f"DETACH DATABASE {STAGE}")
            Path(self.attached).unlink(missing_ok=True)
            self.attached = None

    def take(self, index: int) -> PreparedBatch | None:
        """Inside batch `index`'s transaction, its routes locked: the batch as read ahead (None: read it here),
        after handing the batches up to `depth` ahead to the reading processes."""
        version = _data_version()
        prepared = self.ready
        fresh = prepared is not None and version == self.version  # nobody else committed after the handover
        while self.pool is not None and self.handed <= min(index + self.depth, len(self.batches) - 1):
            stage = str(Path(self.scratch) / f"batch-{self.handed}.sqlite3")
            try:
                future = self.pool.submit(readahead.prepare, routes=self.batches[self.handed], stage=stage,
                                          rows=self.rows, **self.work)
            except BrokenProcessPool:
                self._stopped()
                break
            self.ahead[self.handed] = (future, version)
            self.handed += 1
        return prepared if fresh else None

    def cancel(self) -> None:
        for future, _ in self.ahead.values():
            future.cancel()


def run_route_fast(*, route: Route, period: str, as_of: date, created_at: datetime, catalogue: Catalogue,
                   due_days: int | None = None, shock_threshold_pct: Decimal | None = None) -> FastRunSummary:
    """Bill one route in one transaction (see `run_batch_fast`). Raises: InvalidPeriod."""
    billing = billing_period(period=period, reading_day=route.reading_day)
    if not is_due(billing=billing, as_of=as_of):
        return FastRunSummary(period=period, routes=1, not_due=Account.objects.filter(route=route).exclude(
            status=Account.Status.PENDING).count())
    return run_batch_fast(routes=[route], period=period, as_of=as_of, created_at=created_at, catalogue=catalogue,
                          due_days=due_days, shock_threshold_pct=shock_threshold_pct)


def run_batch_fast(*, routes: list[Route], period: str, as_of: date, created_at: datetime, catalogue: Catalogue,
                   due_days: int | None = None, shock_threshold_pct: Decimal | None = None,
                   read_ahead: Callable[[], PreparedBatch | None] | None = None) -> FastRunSummary:
    """Bill a batch of due routes with the same fixed reading day in one transaction.

    The batch is read with one query per table, rated by one `rate_frame`, explained by one `explain_frame`
    (`prepare_batch`) and written with one COPY / executemany per table (`write_batch`); each route gets its
    BillRun and BILL_RUN event. `read_ahead()`, called once the routes are locked, may give the batch as another
    process prepared it (`_ReadAhead.take`); None: it is prepared here.
    Raises: InvalidPeriod.
    """
    started = time.perf_counter()
    due_days, threshold = per_account.run_limits(due_days, shock_threshold_pct)
    with transaction.atomic():
        _lock_routes(routes)
        prepared = read_ahead() if read_ahead is not None else None
        if prepared is None:
            prepared = prepare_batch(routes=routes, period=period, catalogue=catalogue, threshold=threshold)
        summary = write_batch(prepared, as_of=as_of, created_at=created_at, due_days=due_days, started=started)
    summary.seconds = time.perf_counter() - started
    return summary


def _lock_routes(routes: list[Route]) -> None:
    """One run of a route at a time (and SQLite's write lock): as the per-account run does."""
    list(Route.objects.select_for_update().filter(pk__in=sorted(r.pk for r in routes)).order_by("pk")
         .values_list("pk"))


@dataclass
class PreparedBatch:
    """A batch read and rated, ready to be written: what `prepare_batch` hands to `write_batch`."""

    routes: list[Route]
    billing: BillingPeriod
    per_route: dict[int, FastRunSummary]
    route_of: pl.DataFrame  # (account_id, route_id, number)
    held: dict[int, BillDraft]  # bills held before the run, re-drafted by the per-account rules (by account id)
    bills: pl.DataFrame
    lines: pl.DataFrame
    rest: list[int]  # accounts drafted by the per-account rules
    reasons: dict[int, str]
    kernel_ids: set[int]
    python_explained: int
    check: ReferenceCheck = field(default_factory=ReferenceCheck)  # the sample re-drafted by the reference rules
    stage: dict[str, int] | None = None  # rows per run table, when a reading process staged them (`stage_rows`)
    stage_path: str | None = None


def prepare_batch(*, routes: list[Route], period: str, catalogue: Catalogue, threshold: Decimal) -> PreparedBatch:
    """Read a batch of due routes with the same fixed reading day and draft its bills; writes nothing."""
    days = {r.reading_day for r in routes}
    if len(days) != 1:
        raise ValueError("a batch holds routes of one fixed reading day")
    billing = billing_period(period=period, reading_day=days.pop())
    by_id = {r.pk: r for r in routes}
    per_route = {r.pk: FastRunSummary(period=period, routes=1) for r in routes}
    c = pl.col
    frames = load_routes(route_ids=sorted(by_id), billing=billing)
    route_of = frames.accounts.select("account_id", "route_id", "number")
    existing = dict(frames.existing.iter_rows())
    held_ids = {a for a, s in existing.items() if s == Bill.Status.HELD}  # re-validated in this batch
    for route_id, n in route_of.filter(c("account_id").is_in([a for a in existing if a not in held_ids])).group_by(
            "route_id").len().iter_rows():
        per_route[route_id].skipped = n
    held_accounts = frames.accounts.filter(c("account_id").is_in(list(held_ids)))
    todo = frames.accounts.filter(~c("account_id").is_in(list(existing)))
    frames.accounts = todo
    spans, reasons = plain_usage(frames, billing=billing, catalogue=catalogue)
    todo_ids = todo["account_id"].to_list()
    # accounts with 15-minute intervals for the period are billed from them (one interval_usage per route,
    # one folder check for a route without interval files)
    intervals: dict[int, per_account.IntervalInput] = {}
    metered = set(frames.installations.filter(c("sends_intervals"))["account_id"].to_list())
    todo_by_route = dict(pl.concat([todo, held_accounts]).group_by("route_id").agg("account_id").iter_rows())
    for route in routes:
        ids = todo_by_route.get(route.pk, [])  # each route its own accounts: the work stays per route
        if ids:
            intervals.update(per_account.route_intervals(
                route=route, billing=billing, catalogue=catalogue, account_ids=ids,
                metered=[a for a in ids if a in metered]))
    # rated by the kernel when the registers are plain too and no blocking finding holds the bill; the others
    # (held, or a meter exchange, missed register reading …) are drafted by the per-account rules
    binned = {a: interval_facts(row=iv.row, findings=iv.findings, blocking=iv.blocking)
              for a, iv in intervals.items() if a not in reasons and a not in held_ids}
    binned = {a: found for a, found in binned.items() if not found[2].held}
    for account_id in intervals:
        if account_id not in binned and account_id not in held_ids:
            reasons[account_id] = "INTERVAL_DATA"
    spans = spans.filter(c("account_id").is_in(todo_ids))
    usage = with_interval_usage(usage_rows(spans, todo.filter(~c("account_id").is_in(list(reasons))), frames.ytd,
                                           billing=billing, catalogue=catalogue),
                                {a: intervals[a].row for a in binned})
    lines, totals = rate_frame(usage.drop("total_e4"), catalogue=catalogue)
    odd = totals.filter((c("engine") != VECTOR) | c("error").is_not_null())["account_id"].to_list()
    for account_id in odd:
        reasons[account_id] = "RATED_BY_RATE"
    good = usage.filter(~c("account_id").is_in(odd))
    odd_ids = set(odd)
    from_intervals = [a for a in binned if a not in odd_ids]
    v_bills, v_lines, in_python = vector_bills(usage=good.filter(~c("account_id").is_in(from_intervals)),
                                               spans=spans, lines=lines, totals=totals, history=frames.history,
                                               billing=billing, catalogue=catalogue, threshold=threshold)
    # bills from intervals are explained by explain() too: their INTERVAL_DATA and ESTIMATED reasons
    in_python = in_python + from_intervals
    drafts = kernel_drafts(usage=good.filter(c("account_id").is_in(in_python)), spans=spans, lines=lines,
                           totals=totals, history=frames.history, billing=billing, catalogue=catalogue,
                           threshold=threshold, intervals=binned) if in_python else []
    kernel_ids = set(v_bills["account_id"].to_list()) | {d.account_id for d in drafts}
    rest = [a for a in todo_ids if a in reasons]
    by_reference = _reference_drafts([*rest, *held_ids], billing=billing, catalogue=catalogue, intervals=intervals,
                                     threshold=threshold)
    held = {a: by_reference[a] for a in held_ids}
    drafts += [by_reference[a] for a in rest]
    p_bills, p_lines = draft_frames(drafts)
    order = todo.select("account_id").with_row_index("_order")
    bills = pl.concat([v_bills, p_bills]).join(order, on="account_id").sort("_order").drop("_order")
    lines = pl.concat([v_lines, p_lines])
    # the kernel's bills of a sample of accounts, drafted again by the reference rules: any difference refuses
    # the batch (billrun_check)
    check_started = time.perf_counter()
    sampled = sample_accounts(bills=bills, lines=lines, kernel_ids=kernel_ids, period=billing.period)
    reference = draft_frames(list(_reference_drafts(sampled, billing=billing, catalogue=catalogue,
                                                    intervals=intervals, threshold=threshold).values()))
    check = check_against_reference(bills=bills, lines=lines, reference=reference,
                                    numbers=dict(route_of.select("account_id", "number").iter_rows()),
                                    started=check_started)
    return PreparedBatch(routes=routes, billing=billing, per_route=per_route, route_of=route_of,
                         held=held, bills=bills, lines=lines, rest=rest, reasons=reasons, kernel_ids=kernel_ids,
                         python_explained=len(in_python), check=check)


def _reference_drafts(account_ids: list[int] | set[int], *, billing: BillingPeriod, catalogue: Catalogue,
                      intervals: dict[int, per_account.IntervalInput], threshold: Decimal) -> dict[int, BillDraft]:
    """The accounts' drafts by the per-account rules (`gather_inputs` + `draft_bill`), by account id, in walking
    order."""
    if not account_ids:
        return {}
    accounts = list(Account.objects.filter(id__in=list(account_ids)).order_by("walk_order", "id"))
    inputs = per_account.gather_inputs(accounts=accounts, billing=billing, tariffs=catalogue.tariffs,
                                       intervals=intervals, catalogue=catalogue)
    drafts = {}
    for account in accounts:
        usage_one, segments, facts = inputs[account.id]
        drafts[account.id] = draft_bill(billing=billing, usage=usage_one, segments=segments,
                                        tariffs=catalogue.tariffs, facts=facts, shock_threshold_pct=threshold)
    return drafts


def write_batch(prepared: PreparedBatch, *, as_of: date, created_at: datetime, due_days: int,
                started: float) -> FastRunSummary:
    """Write a prepared batch: BillRuns, bills and their rows (`write_frames`), credit applied, shock notices,
    BILL_RUN events. Inside the caller's transaction, with the batch's routes locked."""
    c = pl.col
    billing, per_route = prepared.billing, prepared.per_route
    period = billing.period
    by_id = {r.pk: r for r in prepared.routes}
    route_of = prepared.route_of
    user = per_account._actor_user()
    runs = BillRun.objects.bulk_create([BillRun(period=period, route=by_id[r], started_at=created_at,
                                                started_by=user, summary={}) for r in sorted(by_id)])
    run_ids = {run.route_id: run.pk for run in runs}
    written = write_frames(bills=prepared.bills, lines=prepared.lines, runs=run_ids, route_of=route_of,
                           billing=billing, as_of=as_of, created_at=created_at, due_days=due_days,
                           staged=prepared.stage)
    route_reason = dict(route_of.select("account_id", "route_id").iter_rows())
    for account_id in prepared.rest:
        s = per_route[route_reason[account_id]]
        s.per_account += 1
        s.per_account_reasons[prepared.reasons[account_id]] += 1
    outcomes = [(account_id, route_id, status, json.loads(hold_codes)) for account_id, route_id, status, hold_codes
                in written.select("account_id", "route_id", "status", "hold_codes").iter_rows()]
    redrafted = _redraft_held(prepared, runs={run.route_id: run for run in runs}, as_of=as_of, due_days=due_days,
                              created_at=created_at)
    outcomes += [(b.account_id, b.account.route_id, b.status, b.hold_codes) for b in redrafted]
    for account_id, route_id, status, hold_codes in outcomes:
        s = per_route[route_id]
        if account_id in prepared.kernel_ids:
            s.kernel += 1
        if status == "ISSUED":
            s.issued += 1
        else:
            s.held += 1
            s.held_by_code.update(hold_codes)
    _after_posting(route_ids=sorted(by_id),
                   issued=[a for a, _, status, _ in outcomes if status == "ISSUED"],
                   shocked=[*written.filter(c("is_shock"))["account_id"].to_list(),
                            *(b.account_id for b in redrafted if "BILL_SHOCK" in b.hold_codes)],
                   streaks=[a for a, _, _, codes in outcomes if "ESTIMATE_STREAK" in codes],
                   period=period, as_of=as_of, created_at=created_at)
    seconds = time.perf_counter() - started
    for run in runs:
        s = per_route[run.route_id]
        s.seconds = seconds * (s.issued + s.held) / max(1, written.height)
        run.finished_at = created_at
        run.summary = s.as_dict()
    BillRun.objects.bulk_update(runs, ["finished_at", "summary"])
    for run in runs:
        record_event(action="BILL_RUN", obj=run, occurred_at=created_at,
                     detail={"route": by_id[run.route_id].code, **per_route[run.route_id].as_dict(),
                             "start_date": billing.start_date.isoformat(), "end_date": billing.end_date.isoformat()})
    summary = FastRunSummary(period=period)
    for s in per_route.values():
        summary.add(s)
    summary.python_explained = prepared.python_explained
    summary.reference_checked = prepared.check.accounts
    summary.reference_seconds = prepared.check.seconds
    return summary


def _redraft_held(prepared: PreparedBatch, *, runs: dict[int, BillRun], as_of: date, due_days: int,
                  created_at: datetime) -> list[Bill]:
    """The batch's bills held before the run, re-validated against their drafts (`billing.redraft_held`) on their
    route's run; those now issued are posted. Counts the unchanged ones as skipped. Returns the bills changed."""
    if not prepared.held:
        return []
    held = list(Bill.objects.filter(account_id__in=list(prepared.held), period=prepared.billing.period,
                                    status=Bill.Status.HELD).select_related("account"))
    changed, _ = per_account.redraft_held(held=held, drafts=prepared.held, runs=runs, as_of=as_of,
                                          due_days=due_days, created_at=created_at)
    changed_ids = {b.pk for b in changed}
    for bill in held:
        if bill.pk not in changed_ids:
            prepared.per_route[bill.account.route_id].skipped += 1
    ledger.post_bills(bills=[b for b in changed if b.status == Bill.Status.ISSUED], created_at=created_at)
    return changed


def _after_posting(*, route_ids: list[int], issued: list[int], shocked: list[int], streaks: list[int], period: str,
                   as_of: date, created_at: datetime) -> None:
    """What the per-account run does per written bill besides the entry: credit applied, shock notified, an
    on-site reading ordered for a bill held on ESTIMATE_STREAK."""
    # one look-up for the batch's payers first (most accounts hold no posted payment), then the exact test
    payers = set(Payment.objects.filter(account__route_id__in=route_ids, status=Payment.Status.POSTED)
                 .values_list("account_id", flat=True).distinct()) if issued else set()
    candidates = [a for a in issued if a in payers]
    with_credit = ledger.accounts_with_credit(candidates) if candidates else set()
    for account in Account.objects.filter(id__in=sorted(with_credit)):
        ledger.apply_credit(account=account, created_at=created_at)
    bills = []
    for start in range(0, len(shocked), 1000):
        bills += list(Bill.objects.filter(account_id__in=shocked[start:start + 1000], period=period).exclude(
            status=Bill.Status.CANCELLED).select_related("account", "account__customer"))
    per_account.notify_bill_shocks(bills=bills, created_at=created_at)
    if streaks:
        per_account.order_estimate_streak_visits(
            bills=Bill.objects.filter(account_id__in=streaks, period=period).exclude(
                status=Bill.Status.CANCELLED).select_related("account"), as_of=as_of, created_at=created_at)
