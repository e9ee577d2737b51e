"""A batch drafted: kernel-rated bills from the frames, the others by the reference rules, and the sample check."""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from gridcounter.application import billing as per_account
from gridcounter.application.billrun._check import ReferenceCheck, check_against_reference, sample_accounts
from gridcounter.application.billrun._frames import load_routes
from gridcounter.application.billrun._json import json_text
from gridcounter.application.billrun._summary import ENGINES, KERNEL, REFERENCE, RunSummary
from gridcounter.application.billrun._usage import plain_usage, usage_rows, with_interval_usage
from gridcounter.data.billing.models import Bill
from gridcounter.data.registry.models import Account, Route
from gridcounter.domain.billing.cycle import readings_frame
from gridcounter.domain.billing.draft import BillDraft, TariffSegment, draft_bill, price_changes
from gridcounter.domain.billing.explanation import BillContext, explain, explaining_codes
from gridcounter.domain.billing.explanation_frame import EXPLAIN_INPUT, explain_frame, tier_table
from gridcounter.domain.billing.intervals import interval_facts
from gridcounter.domain.billing.periods import (
    BillingPeriod,
    billing_period,
)
from gridcounter.domain.billing.shock import PeriodFigures, assess_shock
from gridcounter.domain.tariffs import Catalogue, TierBasis, tier_status, tier_thresholds
from gridcounter.domain.tariffs.rating_frame import VECTOR, rate_frame
from gridcounter.domain.units import decimal_of, fixed_text, half_up


def _figures(rows: dict[str, dict], period: str) -> PeriodFigures | None:
    row = rows.get(period)
    if row is None:
        return None
    return PeriodFigures(period=period, kwh=decimal_of(row["kwh_c"], 2), amount_fen=int(row["amount_fen"]),
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


def _readingjson_text(row: dict, which: str) -> dict:
    return {"reading_id": row[f"{which}_reading_id"], "value": str(decimal_of(row[f"{which}_value_c"], 2)),
            "date": row[f"{which}_read_date"].isoformat(), "source": row[f"{which}_source"],
            "is_estimate": row[f"{which}_is_estimate"], "status": row[f"{which}_status"]}


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
        kwh_total = decimal_of(row["total_e4"], 4)
        amount_fen = row["amount_fen"]
        history_rows = past.get(account_id, {})
        previous = _figures(history_rows, billing.previous)
        last_year = _figures(history_rows, billing.last_year)
        recent = [f for f in (_figures(history_rows, p) for p in billing.recent) if f is not None]
        basis, tiered, thresholds = tiers(row["tariff_id"], row["household_size"])
        tier = None
        if tiered:
            ytd = decimal_of(row["ytd_c"], 2)
            used = sum((decimal_of(row[f"{n}_c"], 2) for n in ("kwh", "critical_peak", "peak", "flat", "valley")
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
                "meter": span["asset_number"], "multiplier": str(decimal_of(span["multiplier_c"], 2)),
                "digits": span["digits"], "previous": _readingjson_text(span, "prev"),
                "current": _readingjson_text(span, "curr")})
            reading_ids += [span["prev_reading_id"], span["curr_reading_id"]]
        shock = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in ctx.shock.__dict__.items()}
        drafts.append(BillDraft(
            account_id=account_id, period=billing.period, start_date=billing.start_date, end_date=billing.end_date,
            status="HELD" if hold_codes else "ISSUED", tariff_id=row["tariff_id"],
            kwh=kwh_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), amount_fen=amount_fen,
            is_estimate=interval is not None and interval.estimated > 0, hold_codes=hold_codes, readings=readings,
            explanation=[r.as_dict() for r in explain(ctx)],
            facts={"engine": "KERNEL", "ytd_kwh": str(decimal_of(row["ytd_c"], 2)), "shock": shock},
            lines=[], reading_ids=reading_ids,
        ))
        drafts[-1]._kernel_lines = line_rows.get(account_id, [])  # type: ignore[attr-defined]
    return drafts


BILL_SCHEMA = {"account_id": pl.Int64(), "status": pl.String(), "tariff_id": pl.String(), "kwh": pl.String(),
               "amount_fen": pl.Int64(), "is_estimate": pl.Boolean(), "hold_codes": pl.String(),
               "readings": pl.String(), "explanation": pl.String(), "facts": pl.String(), "is_shock": pl.Boolean()}


LINE_SCHEMA_OUT = {"account_id": pl.Int64(), "position": pl.Int64(), "code": pl.String(), "description": pl.String(),
                   "description_en": pl.String(), "quantity": pl.String(), "unit": pl.String(),
                   "unit_price": pl.String(), "amount_fen": pl.Int64(), "tier": pl.Int64(), "tou_period": pl.String(),
                   "segment_start_date": pl.Date(), "segment_end_date": pl.Date()}


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
    one_by_one = set(explained.filter(c("explain_one_by_one") | c("account_id").is_in(
        frame.filter(c("tariff_id").is_in(list(timed_changes)))["account_id"].to_list()))["account_id"].to_list())
    bills = frame.select("account_id", "tariff_id", "total_e4", "amount_fen").join(
        explained, on="account_id").join(readings_frame(spans), on="account_id", how="left").filter(
        ~c("account_id").is_in(list(one_by_one))).select(
        "account_id", "status", "tariff_id", fixed_text((c("total_e4") * 2 + 100) // 200, 2).alias("kwh"), "amount_fen",
        pl.lit(False).alias("is_estimate"), "hold_codes", "readings", "explanation", "facts", "is_shock")
    line_out = lines.filter(c("account_id").is_in(bills["account_id"].to_list())).select(
        "account_id", (c("position") + 1).cast(pl.Int64).alias("position"), "code",
        c("description").str.slice(0, 200), c("description_en").str.slice(0, 200),
        fixed_text(c("quantity_e4"), 4).alias("quantity"), "unit",
        fixed_text(half_up(c("unit_price_e8").cast(pl.Int128), 100), 6).alias("unit_price"),
        c("amount_fen").cast(pl.Int64), c("tier").cast(pl.Int64), c("tou_period").fill_null(""),
        "segment_start_date", "segment_end_date")
    return bills.cast(BILL_SCHEMA), line_out.cast(LINE_SCHEMA_OUT), sorted(one_by_one)


def draft_frames(drafts: list[BillDraft]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bills and lines of drafts made in Python (per-account path, or explained by `explain()`)."""
    bills, lines = [], []
    for d in drafts:
        bills.append((d.account_id, d.status, d.tariff_id, str(d.kwh), d.amount_fen, d.is_estimate,
                       json_text(d.hold_codes), json_text({**d.readings, "_reading_ids": d.reading_ids}),
                       json_text(d.explanation), json_text(d.facts), bool(d.is_shock)))
        kernel_lines = getattr(d, "_kernel_lines", None)
        if kernel_lines is not None:
            for line in kernel_lines:
                lines.append((d.account_id, line["position"] + 1, line["code"], line["description"][:200],
                              line["description_en"][:200], str(decimal_of(line["quantity_e4"], 4)), line["unit"],
                              str(decimal_of(line["unit_price_e8"], 8).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)),
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


@dataclass
class PreparedBatch:
    """A batch read and rated, ready to be written: what `prepare_batch` hands to `write_batch`."""

    routes: list[Route]
    billing: BillingPeriod
    per_route: dict[int, RunSummary]
    route_of: pl.DataFrame  # (account_id, route_id, number)
    held: dict[int, BillDraft]  # bills held before the run, re-drafted by the per-account rules (by account id)
    bills: pl.DataFrame
    lines: pl.DataFrame
    rest: list[int]  # accounts drafted by the per-account rules
    reasons: dict[int, str]
    kernel_ids: set[int]
    explained_one_by_one: int
    engine: str = KERNEL
    check: ReferenceCheck = field(default_factory=ReferenceCheck)  # the sample re-drafted by the reference rules
    stage: dict[str, int] | None = None  # rows per run table, when a reading process staged them (`stage_rows`)
    stage_path: str | None = None


def prepare_batch(*, routes: list[Route], period: str, catalogue: Catalogue, threshold: Decimal,
                  engine: str = KERNEL) -> PreparedBatch:
    """Read a batch of due routes with the same fixed reading day and draft its bills; writes nothing. With the
    REFERENCE engine every account is drafted by the reference rules, one by one."""
    if engine not in ENGINES:
        raise ValueError(f"no bill-run engine {engine!r}: {', '.join(ENGINES)}")
    days = {r.reading_day for r in routes}
    if len(days) != 1:
        raise ValueError("a batch holds routes of one fixed reading day")
    billing = billing_period(period=period, reading_day=days.pop())
    by_id = {r.pk: r for r in routes}
    per_route = {r.pk: RunSummary(period=period, engine=engine, routes=1) for r in routes}
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
    if engine == REFERENCE:
        reasons = {a: "REFERENCE_ENGINE" for a in todo_ids}
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
    left_to_rate = totals.filter((c("engine") != VECTOR) | c("error").is_not_null())["account_id"].to_list()
    for account_id in left_to_rate:
        reasons[account_id] = "RATED_BY_RATE"
    good = usage.filter(~c("account_id").is_in(left_to_rate))
    left_ids = set(left_to_rate)
    from_intervals = [a for a in binned if a not in left_ids]
    v_bills, v_lines, one_by_one = vector_bills(usage=good.filter(~c("account_id").is_in(from_intervals)),
                                               spans=spans, lines=lines, totals=totals, history=frames.history,
                                               billing=billing, catalogue=catalogue, threshold=threshold)
    # bills from intervals are explained by explain() too: their INTERVAL_DATA and ESTIMATED reasons
    one_by_one = one_by_one + from_intervals
    drafts = kernel_drafts(usage=good.filter(c("account_id").is_in(one_by_one)), spans=spans, lines=lines,
                           totals=totals, history=frames.history, billing=billing, catalogue=catalogue,
                           threshold=threshold, intervals=binned) if one_by_one else []
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
                         explained_one_by_one=len(one_by_one), engine=engine, check=check)


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
