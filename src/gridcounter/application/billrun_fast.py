"""The columnar bill run: a route's data as Polars frames, the vectorised kernel, bulk writes in one transaction.

Same rules and same bills as `gridcounter.application.billing` (the per-account run):

- accounts whose period is plain — one installation over the whole period, fixed-day readings found,
  accepted and actual, no rollover, no change of tariff or category in the period, no bill yet — are
  rated by `gridcounter.domain.kernel.rate_frame` and explained with the domain's own `explain()` and
  `assess_shock()`;
- every other account (meter exchange, missed, held or estimated readings, rollover, category change,
  a rating the kernel leaves to `rate()`) is drafted by the per-account path (`gather_inputs` +
  `draft_bill`) and written by the same bulk writer; the run summary counts both.

One transaction per route: bills, history rows, lines, journal entries and postings land together or not
at all. Ids are allocated in advance (sequence on PostgreSQL, max(id) under SQLite's write lock); rows go
in with COPY (PostgreSQL) or executemany (SQLite). Idempotent: accounts with a live bill for the period are
skipped, and the partial unique constraint `bill_one_live_per_period` refuses a duplicate even after a crash.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from django.db import connection, transaction

from gridcounter.application import billing as per_account
from gridcounter.application import ledger
from gridcounter.application.demo.bulk import allocate_ids, insert_rows
from gridcounter.data.audit.context import current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill, BillLine, BillRun
from gridcounter.data.ledger.models import JournalEntry, LedgerAccount, Posting
from gridcounter.data.registry.models import Account, Route
from gridcounter.domain.billing.cycle import WINDOW_DAYS
from gridcounter.domain.billing.draft import BillDraft, TariffSegment, draft_bill, price_changes
from gridcounter.domain.billing.explanation import BillContext, TierStatus, explain, explaining_codes
from gridcounter.domain.billing.periods import (
    BillingPeriod,
    billing_period,
    is_due,
    parse_period,
    previous_period,
    same_period_last_year,
    shift_period,
)
from gridcounter.domain.billing.shock import PeriodFigures, assess_shock
from gridcounter.domain.kernel.rating import VECTOR, rate_frame
from gridcounter.domain.tariffs import Catalogue, TierBasis, tier_thresholds

ENERGY_REGISTERS = ("TOTAL", "PEAK", "FLAT", "VALLEY")
KNOWN_REGISTERS = (*ENERGY_REGISTERS, "REACTIVE")
RECENT_PERIODS = per_account.RECENT_PERIODS

__all__ = ["FastRunSummary", "load_route", "run_bills_fast", "run_route_fast"]


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

    def add(self, other: FastRunSummary) -> None:
        for name in ("routes", "issued", "held", "skipped", "not_due", "kernel", "per_account", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.per_account_reasons.update(other.per_account_reasons)
        self.held_by_code.update(other.held_by_code)

    def as_dict(self) -> dict:
        return {"period": self.period, "engine": "kernel", "routes": self.routes, "issued": self.issued,
                "held": self.held, "skipped": self.skipped, "not_due": self.not_due, "kernel": self.kernel,
                "per_account": self.per_account, "per_account_reasons": dict(sorted(self.per_account_reasons.items())),
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
            cursor.execute(sql, params)
            frame = pl.DataFrame(cursor.fetchall(), schema=list(schema), orient="row", infer_schema_length=None)
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    return frame.with_columns([_cast(name, dtype) for name, dtype in schema.items()])


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
    return column


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
    window = timedelta(days=WINDOW_DAYS)
    accounts = query_frame(
        "SELECT a.id, a.number, a.tariff_id, a.usage_category, a.household_size, "
        f"{_centi_sql('a.capacity_kva')}, a.walk_order FROM registry_account a "
        "WHERE a.route_id = %s AND a.status <> 'PENDING' ORDER BY a.walk_order, a.id",
        [route_id], {"account_id": pl.Int64(), "number": pl.String(), "tariff_id": pl.String(),
                     "usage_category": pl.String(), "household_size": pl.Int64(), "capacity_c": pl.Int64(),
                     "walk_order": pl.Int64()})
    installations = query_frame(
        "SELECT i.account_id, i.meter_id, m.asset_number, m.digits, "
        f"{_centi_sql('m.multiplier')}, m.registers, i.installed_date, i.removed_date "
        "FROM registry_installation i JOIN registry_account a ON a.id = i.account_id "
        "JOIN registry_meter m ON m.id = i.meter_id "
        "WHERE a.route_id = %s AND i.installed_date < %s AND (i.removed_date IS NULL OR i.removed_date > %s)",
        [route_id, billing.end_date, billing.start_date],
        {"account_id": pl.Int64(), "meter_id": pl.Int64(), "asset_number": pl.String(), "digits": pl.Int64(),
         "multiplier_c": pl.Int64(), "registers": pl.String(), "installed_date": pl.Date(),
         "removed_date": pl.Date()})
    readings = query_frame(
        f"SELECT i.account_id, r.id, r.meter_id, r.register, r.read_date, {_instant_sql('r.read_at')}, "
        f"{_centi_sql('r.value')}, r.source, r.is_estimate, r.status "
        "FROM readings_reading r JOIN registry_installation i ON i.meter_id = r.meter_id "
        "JOIN registry_account a ON a.id = i.account_id "
        "WHERE a.route_id = %s AND i.installed_date < %s AND (i.removed_date IS NULL OR i.removed_date > %s) "
        "AND r.status IN ('ACCEPTED', 'HELD') AND ((r.read_date >= %s AND r.read_date <= %s) "
        "OR (r.read_date >= %s AND r.read_date <= %s))",
        [route_id, billing.end_date, billing.start_date, billing.start_date - window, billing.start_date + window,
         billing.end_date - window, billing.end_date + window],
        {"account_id": pl.Int64(), "reading_id": pl.Int64(), "meter_id": pl.Int64(), "register": pl.String(),
         "read_date": pl.Date(), "read_at": pl.String(), "value_c": pl.Int64(), "source": pl.String(),
         "is_estimate": pl.Boolean(), "status": pl.String()})
    year = billing.start_date.year
    ytd = query_frame(
        f"SELECT b.account_id, SUM({_centi_sql('b.kwh')}) FROM billing_bill b "
        "JOIN registry_account a ON a.id = b.account_id WHERE a.route_id = %s AND b.period >= %s "
        "AND b.period < %s AND b.status <> 'CANCELLED' GROUP BY b.account_id",
        [route_id, f"{year:04d}-01", billing.period], {"account_id": pl.Int64(), "ytd_c": pl.Int64()})
    wanted = sorted({shift_period(billing.period, months=-k) for k in range(1, RECENT_PERIODS + 1)}
                    | {same_period_last_year(billing.period)})
    marks = ", ".join(["%s"] * len(wanted))
    history = query_frame(
        f"SELECT b.account_id, b.period, {_centi_sql('b.kwh')}, b.amount_fen, b.start_date, b.end_date "
        "FROM billing_bill b JOIN registry_account a ON a.id = b.account_id "
        f"WHERE a.route_id = %s AND b.period IN ({marks}) AND b.status <> 'CANCELLED'",
        [route_id, *wanted], {"account_id": pl.Int64(), "period": pl.String(), "kwh_c": pl.Int64(),
                              "amount_fen": pl.Int64(), "start_date": pl.Date(), "end_date": pl.Date()})
    existing = query_frame(
        "SELECT b.account_id, b.status FROM billing_bill b JOIN registry_account a ON a.id = b.account_id "
        "WHERE a.route_id = %s AND b.period = %s AND b.status <> 'CANCELLED'",
        [route_id, billing.period], {"account_id": pl.Int64(), "status": pl.String()})
    since = datetime(billing.start_date.year, billing.start_date.month, billing.start_date.day,
                     tzinfo=per_account.BUSINESS_TZ)
    # history since the period started, and a row naming another tariff or category: the per-account run
    # splits such a period into segments (history that never changed either gives one segment, the plain case)
    changed = query_frame(
        "SELECT DISTINCT h.id FROM registry_historicalaccount h JOIN registry_account a ON a.id = h.id "
        "WHERE a.route_id = %s AND (h.tariff_id <> a.tariff_id OR h.usage_category <> a.usage_category) "
        "AND h.id IN (SELECT r.id FROM registry_historicalaccount r WHERE r.history_date >= %s)",
        [route_id, since], {"account_id": pl.Int64()})
    return RouteFrames(accounts=accounts, installations=installations, readings=readings, ytd=ytd,
                       history=history, existing=existing, changed=set(changed["account_id"].to_list()))


# --- from readings to usage (vectorised) ------------------------------------------------------------------

def _pick(readings: pl.DataFrame, *, fixed: date, which: str) -> pl.DataFrame:
    """The reading for a fixed day per (account, meter, register): closest, actual first, latest, highest id."""
    c = pl.col
    return (
        readings.with_columns(_dist=(c("read_date") - pl.lit(fixed)).dt.total_days().abs())
        .filter(c("_dist") <= WINDOW_DAYS)
        .sort(["account_id", "meter_id", "register", "_dist", "is_estimate", "read_at", "reading_id"],
              descending=[False, False, False, False, False, True, True])
        .group_by(["account_id", "meter_id", "register"], maintain_order=True).first()
        .select("account_id", "meter_id", "register",
                *[c(name).alias(f"{which}_{name}") for name in
                  ("reading_id", "read_date", "value_c", "source", "is_estimate", "status")])
    )


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
    return (e4 * 2 + 100) // 200  # e4 ≥ 0: round to 0.01 kWh, half up


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

def _dec(value: int, places: int) -> Decimal:
    return Decimal(value).scaleb(-places)


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


def _tier_status(*, basis, thresholds, before: Decimal, after: Decimal) -> TierStatus:
    """As `draft._tier_status` reads the quote's tier facts."""
    reached = 1 + sum(1 for t in thresholds if t < after)
    following = next((t for t in thresholds if t >= after), None)
    tier_before = 1 + sum(1 for t in thresholds if t < before)
    return TierStatus(ytd_kwh=after, tier=reached, next_threshold_kwh=following,
                      remaining_kwh=None if following is None else following - after,
                      crossed=reached > tier_before, basis=str(basis or "ANNUAL"))


def _reading_json(row: dict, which: str) -> dict:
    return {"reading_id": row[f"{which}_reading_id"], "value": str(_dec(row[f"{which}_value_c"], 2)),
            "date": row[f"{which}_read_date"].isoformat(), "source": row[f"{which}_source"],
            "is_estimate": row[f"{which}_is_estimate"], "status": row[f"{which}_status"]}


def kernel_drafts(*, usage: pl.DataFrame, spans: pl.DataFrame, lines: pl.DataFrame, totals: pl.DataFrame,
                  history: pl.DataFrame, billing: BillingPeriod, catalogue: Catalogue,
                  threshold: Decimal) -> list[BillDraft]:
    """BillDrafts of the kernel-rated accounts, explained by the domain's `explain()` exactly as `draft_bill` does."""
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
        previous = _figures(history_rows, previous_period(billing.period))
        last_year = _figures(history_rows, same_period_last_year(billing.period))
        recent = [f for f in (_figures(history_rows, shift_period(billing.period, months=-k))
                              for k in range(1, RECENT_PERIODS + 1)) if f is not None]
        basis, tiered, thresholds = tiers(row["tariff_id"], row["household_size"])
        tier = None
        if tiered:
            ytd = _dec(row["ytd_c"], 2)
            used = sum((_dec(row[f"{n}_c"], 2) for n in ("kwh", "peak", "flat", "valley") if row[f"{n}_c"] is not None),
                       Decimal(0))
            before = ytd if basis is TierBasis.ANNUAL else Decimal("0.00")
            tier = _tier_status(basis=basis, thresholds=thresholds, before=before, after=before + used)
        segments = [TariffSegment(row["tariff_id"], "", billing.start_date, billing.end_date)]
        ctx = BillContext(period=billing.period, start_date=billing.start_date, end_date=billing.end_date,
                          kwh=kwh_total, amount_fen=amount_fen, previous=previous, last_year=last_year, tier=tier,
                          price_changes=price_changes(tariffs=catalogue.tariffs, segments=segments))
        ctx.shock = assess_shock(amount_fen=amount_fen, days=billing.days, last_year=last_year, recent=recent,
                                 previous=previous, explaining_codes=explaining_codes(ctx), threshold_pct=threshold)
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
            is_estimate=False, hold_codes=hold_codes, readings=readings,
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


def write_bills(*, drafts: list[BillDraft], run_id: int, as_of: date, created_at: datetime, due_days: int,
                numbers: dict[int, str]) -> dict:
    """Bills (with history rows), lines, and for issued bills a journal entry with two postings, in bulk.

    Each journal entry gets its LEDGER_ENTRY_POSTED audit event, as `ledger.post_entry` writes it.
    """
    actor = current_actor()
    user_id = actor.user_id
    ids = allocate_ids(Bill, len(drafts))
    issued = [(bill_id, d) for bill_id, d in zip(ids, drafts, strict=True) if d.status == "ISSUED"]
    due = as_of + timedelta(days=due_days)
    when = _db_datetime(created_at)
    bills, history = [], []
    reason = (actor.reason or "bill run")[:100]
    for bill_id, d in zip(ids, drafts, strict=True):
        is_issued = d.status == "ISSUED"
        row = {
            "id": bill_id, "account_id": d.account_id, "period": d.period, "start_date": _db_date(d.start_date),
            "end_date": _db_date(d.end_date), "status": d.status, "tariff_id": d.tariff_id,
            "kwh": _db_decimal(d.kwh), "amount_fen": d.amount_fen, "is_estimate": d.is_estimate,
            "hold_codes": _json(d.hold_codes), "readings": _json({**d.readings, "_reading_ids": d.reading_ids}),
            "explanation": _json(d.explanation), "facts": _json(d.facts),
            "issued_date": _db_date(as_of) if is_issued else None, "due_date": _db_date(due) if is_issued else None,
            "replaces_id": None, "run_id": run_id, "created_at": when,
        }
        bills.append(row)
        history.append({**row, "history_hall_id": actor.hall_id, "history_channel": actor.channel,
                        "history_date": when, "history_change_reason": reason, "history_type": "+",
                        "history_user_id": user_id})
    insert_rows(Bill, bills)
    history_ids = _allocate(Bill.history.model._meta.db_table, "history_id", len(history))
    for row, history_id in zip(history, history_ids, strict=True):
        row["history_id"] = history_id
    _insert_history(history)
    line_rows = []
    for bill_id, d in zip(ids, drafts, strict=True):
        kernel_lines = getattr(d, "_kernel_lines", None)
        if kernel_lines is not None:
            for line in kernel_lines:
                line_rows.append({
                    "bill_id": bill_id, "position": line["position"] + 1, "code": line["code"],
                    "description": line["description"][:200], "description_en": line["description_en"][:200],
                    "quantity": _db_decimal(_dec(line["quantity_e4"], 4)), "unit": line["unit"],
                    "unit_price": _db_decimal(_dec(line["unit_price_e8"], 8).quantize(
                        Decimal("0.000001"), rounding=ROUND_HALF_UP)),
                    "amount_fen": line["amount_fen"], "tier": line["tier"], "tou_period": line["tou_period"] or "",
                    "segment_start_date": _db_date(line["segment_start_date"]),
                    "segment_end_date": _db_date(line["segment_end_date"]),
                })
        else:
            for line in d.lines:
                line_rows.append({
                    "bill_id": bill_id, "position": line.position, "code": line.code,
                    "description": line.description, "description_en": line.description_en,
                    "quantity": _db_decimal(Decimal(line.quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
                    "unit": line.unit,
                    "unit_price": _db_decimal(Decimal(line.unit_price).quantize(Decimal("0.000001"),
                                                                                rounding=ROUND_HALF_UP)),
                    "amount_fen": line.amount_fen, "tier": line.tier, "tou_period": line.tou_period,
                    "segment_start_date": _db_date(line.segment_start_date),
                    "segment_end_date": _db_date(line.segment_end_date),
                })
    for line_id, row in zip(allocate_ids(BillLine, len(line_rows)), line_rows, strict=True):
        row["id"] = line_id
    insert_rows(BillLine, line_rows)
    # the ledger: as ledger.post_bill writes it (debit receivable, credit energy revenue), key bill:<id>
    entry_ids = allocate_ids(JournalEntry, len(issued))
    entries, postings = [], []
    for entry_id, (bill_id, d) in zip(entry_ids, issued, strict=True):
        entries.append({
            "id": entry_id, "kind": JournalEntry.Kind.BILL.value, "account_id": d.account_id,
            "effective_date": _db_date(as_of), "created_at": when, "description": f"Bill {d.period}",
            "source_type": "billing.Bill", "source_id": str(bill_id), "reverses_id": None,
            "idempotency_key": f"bill:{bill_id}", "created_by_id": user_id, "hall_id": actor.hall_id,
            "reason": actor.reason,
        })
        postings.append({"entry_id": entry_id, "ledger_account": LedgerAccount.RECEIVABLE.value,
                         "account_id": d.account_id, "amount_fen": d.amount_fen})
        postings.append({"entry_id": entry_id, "ledger_account": LedgerAccount.ENERGY_REVENUE.value,
                         "account_id": None, "amount_fen": -d.amount_fen})
    insert_rows(JournalEntry, entries)
    events = [{
        "occurred_at": when, "action": "LEDGER_ENTRY_POSTED", "user_id": user_id,
        "username": getattr(actor.user, "username", "") or "", "hall_id": actor.hall_id, "channel": actor.channel,
        "object_type": JournalEntry._meta.label, "object_id": str(entry["id"]), "reason": actor.reason,
        "detail": _json({"kind": "BILL", "account": numbers[d.account_id], "effective_date": as_of.isoformat(),
                         "postings": [["RECEIVABLE", numbers[d.account_id], d.amount_fen],
                                      ["ENERGY_REVENUE", None, -d.amount_fen]],
                         "source": f"billing.Bill:{bill_id}"}),
        "ip_address": None,
    } for entry, (bill_id, d) in zip(entries, issued, strict=True)]
    for event_id, row in zip(allocate_ids(AuditEvent, len(events)), events, strict=True):
        row["id"] = event_id
    insert_rows(AuditEvent, events)
    for posting_id, row in zip(allocate_ids(Posting, len(postings)), postings, strict=True):
        row["id"] = posting_id
    insert_rows(Posting, postings)
    return {"bills": len(bills), "lines": len(line_rows), "entries": len(entries), "postings": len(postings)}


def _allocate(table: str, column: str, count: int) -> list[int]:
    """`count` fresh values of an auto primary key not named id (the history table's history_id)."""
    if count == 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                           [table, column, count])
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f'SELECT COALESCE(MAX("{column}"), 0) FROM "{table}"')
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def _insert_history(rows: list[dict]) -> None:
    model = Bill.history.model
    if not rows:
        return
    fields = list(model._meta.concrete_fields)
    data = [tuple(row[f.attname] for f in fields) for row in rows]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for record in data:
                    copy.write_row(record)
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})", data)


# --- the run ----------------------------------------------------------------------------------------------

def run_bills_fast(*, period: str, as_of: date, created_at: datetime, route_code: str | None = None,
                   catalogue: Catalogue | None = None, due_days: int | None = None,
                   shock_threshold_pct: Decimal | None = None) -> FastRunSummary:
    """Bill every route (or one) for `period` with the kernel; same bills as `billing.run_bills`.

    Raises: InvalidPeriod, billing.UnknownRoute, CatalogueError.
    """
    parse_period(period)
    routes = Route.objects.order_by("code")
    if route_code:
        routes = routes.filter(code=route_code)
        if not routes.exists():
            raise per_account.UnknownRoute(f"no reading route {route_code!r}")
    catalogue = catalogue or per_account._catalogue()
    summary = FastRunSummary(period=period)
    for route in routes:
        summary.add(run_route_fast(route=route, period=period, as_of=as_of, created_at=created_at,
                                   catalogue=catalogue, due_days=due_days, shock_threshold_pct=shock_threshold_pct))
    return summary


def run_route_fast(*, route: Route, period: str, as_of: date, created_at: datetime, catalogue: Catalogue,
                   due_days: int | None = None, shock_threshold_pct: Decimal | None = None) -> FastRunSummary:
    """Bill one route in one transaction (see the module docstring). Raises: InvalidPeriod."""
    started = time.perf_counter()
    due_days = per_account.due_days_setting() if due_days is None else due_days
    threshold = per_account.shock_threshold_setting() if shock_threshold_pct is None else Decimal(shock_threshold_pct)
    billing = billing_period(period=period, reading_day=route.reading_day)
    summary = FastRunSummary(period=period, routes=1)
    held_before = False
    with transaction.atomic():
        if not is_due(billing=billing, as_of=as_of):
            summary.not_due = Account.objects.filter(route=route).exclude(status=Account.Status.PENDING).count()
            return summary
        # one run of a route at a time (and SQLite's write lock): as the per-account run does
        Route.objects.select_for_update().filter(pk=route.pk).first()
        frames = load_route(route_id=route.pk, billing=billing)
        existing = dict(frames.existing.iter_rows())
        held_before = any(status == Bill.Status.HELD for status in existing.values())
        todo = frames.accounts.filter(~pl.col("account_id").is_in(list(existing)))
        summary.skipped = frames.accounts.height - todo.height
        frames.accounts = todo
        spans, reasons = plain_usage(frames, billing=billing, catalogue=catalogue)
        spans = spans.filter(pl.col("account_id").is_in(todo["account_id"].to_list()))
        usage = usage_rows(spans, todo.filter(~pl.col("account_id").is_in(list(reasons))), frames.ytd,
                           billing=billing, catalogue=catalogue)
        lines, totals = rate_frame(usage.drop("total_e4"), catalogue=catalogue)
        odd = totals.filter((pl.col("engine") != VECTOR) | pl.col("error").is_not_null())
        for account_id in odd["account_id"].to_list():
            reasons[account_id] = "RATED_BY_RATE"
        good = usage.filter(~pl.col("account_id").is_in(odd["account_id"].to_list()))
        drafts = kernel_drafts(usage=good, spans=spans, lines=lines, totals=totals, history=frames.history,
                               billing=billing, catalogue=catalogue, threshold=threshold)
        summary.kernel = len(drafts)
        rest = [a for a in todo["account_id"].to_list() if a in reasons]
        if rest:
            accounts = list(Account.objects.filter(id__in=rest).order_by("walk_order", "id"))
            inputs = per_account.gather_inputs(accounts=accounts, billing=billing, tariffs=catalogue.tariffs)
            for account in accounts:
                usage_one, segments, facts = inputs[account.id]
                drafts.append(draft_bill(billing=billing, usage=usage_one, segments=segments,
                                         tariffs=catalogue.tariffs, facts=facts, shock_threshold_pct=threshold))
            summary.per_account = len(rest)
            summary.per_account_reasons.update(reasons[a] for a in rest)
        run = BillRun.objects.create(period=period, route=route, started_at=created_at,
                                     started_by=per_account._actor_user(), summary={})
        numbers = dict(frames.accounts.select("account_id", "number").iter_rows())
        write_bills(drafts=drafts, run_id=run.pk, as_of=as_of, created_at=created_at, due_days=due_days,
                    numbers=numbers)
        for d in drafts:
            if d.status == "ISSUED":
                summary.issued += 1
            else:
                summary.held += 1
                summary.held_by_code.update(d.hold_codes)
        _after_posting(drafts=drafts, period=period, created_at=created_at)
        summary.seconds = time.perf_counter() - started
        run.finished_at = created_at
        run.summary = summary.as_dict()
        run.save(update_fields=["finished_at", "summary"])
        record_event(action="BILL_RUN", obj=run, occurred_at=created_at,
                     detail={"route": route.code, **summary.as_dict(), "start_date": billing.start_date.isoformat(),
                             "end_date": billing.end_date.isoformat()})
    if held_before:
        # bills held earlier are re-validated by the per-account run, which skips everything billed here
        extra = per_account.run_route(route=route, period=period, as_of=as_of, created_at=created_at,
                                      catalogue=catalogue, due_days=due_days, shock_threshold_pct=threshold)
        summary.issued += extra.issued
        summary.held += extra.held
    return summary


def _after_posting(*, drafts: list[BillDraft], period: str, created_at: datetime) -> None:
    """What the per-account run does per posted bill besides the entry: credit applied, shock notified."""
    from gridcounter.data.ledger.models import Payment

    issued = [d.account_id for d in drafts if d.status == "ISSUED"]
    with_credit = set(Payment.objects.filter(account_id__in=issued, status=Payment.Status.POSTED)
                      .values_list("account_id", flat=True).distinct())
    for account in Account.objects.filter(id__in=with_credit):
        ledger.apply_credit(account=account, created_at=created_at)
    shocked = [d.account_id for d in drafts if d.is_shock]
    for bill in Bill.objects.filter(account_id__in=shocked, period=period).exclude(
            status=Bill.Status.CANCELLED).select_related("account", "account__customer"):
        per_account.notify_bill_shock(bill=bill, created_at=created_at)
