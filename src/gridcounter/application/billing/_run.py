"""The reference rules' inputs and bills, account by account: what `draft_bill` needs, loaded in bulk; held
bills re-validated; rebilling; an account's bills.

The per-account rules live in `gridcounter.domain.billing.draft.draft_bill` (pure); this module loads their
inputs in bulk for any set of accounts (`gather_inputs`, whatever the number of accounts, a few queries). The
bill run (`application.billrun`) drafts with them, every account with its REFERENCE engine and the accounts the
kernel leaves to them with its KERNEL engine, and writes the bills with one writer.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum

from gridcounter.application import ledger
from gridcounter.application.notices import NoticeText, queue_notices
from gridcounter.application.readings import order_site_visit, validation_rules
from gridcounter.application.tariffs import get_catalogue
from gridcounter.data.audit.context import current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.billing.models import Bill, BillLine, BillRun
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation, Route
from gridcounter.domain.billing.cycle import (
    USABLE_STATUSES,
    WINDOW_DAYS,
    InstallationRef,
    ReadingRef,
    cycle_usage,
)
from gridcounter.domain.billing.draft import (
    DEFAULT_SHOCK_THRESHOLD_PCT,
    AccountFacts,
    BillDraft,
    TariffSegment,
    draft_bill,
)
from gridcounter.domain.billing.explanation import CatchUp, Correction
from gridcounter.domain.billing.intervals import interval_cycle_usage
from gridcounter.domain.billing.periods import (
    RECENT_PERIODS,
    BillingPeriod,
    InvalidPeriod,
    billing_period,
    parse_period,
)
from gridcounter.domain.billing.sentences import WORDS, yuan
from gridcounter.domain.billing.shock import PeriodFigures
from gridcounter.domain.business_time import business_date, start_of_business_day
from gridcounter.domain.notices import notice_text

DEFAULT_DUE_DAYS = 15
ESTIMATE_LOOKBACK = 6  # earlier periods inspected to count consecutive estimated bills

__all__ = [
    "BillNotLive", "InvalidPeriod", "UnknownRoute", "bills_for_account", "draft_for_account", "due_days_setting",
    "order_estimate_streak_visits", "rebill",
    "shock_threshold_setting",
]


class UnknownRoute(LookupError):
    """No reading route with this code."""


def due_days_setting() -> int:
    return int(getattr(settings, "GRIDCOUNTER_BILL_DUE_DAYS", DEFAULT_DUE_DAYS))


def shock_threshold_setting() -> Decimal:
    return Decimal(str(getattr(settings, "GRIDCOUNTER_BILL_SHOCK_PCT", DEFAULT_SHOCK_THRESHOLD_PCT)))


def run_limits(due_days: int | None, shock_threshold_pct: Decimal | None) -> tuple[int, Decimal]:
    """A bill run's days to pay and bill-shock threshold: as given, else the settings."""
    return (due_days_setting() if due_days is None else due_days,
            shock_threshold_setting() if shock_threshold_pct is None else Decimal(shock_threshold_pct))


def actor_user():
    user = current_actor().user
    return user if getattr(user, "pk", None) else None


def same_outcome(bill: Bill, draft: BillDraft) -> bool:
    """A held bill and its new draft agree on what the customer would see: status, hold codes, amount, kWh (a rerun
    leaves such a bill as it is)."""
    return (bill.status == draft.status and sorted(bill.hold_codes or []) == draft.hold_codes
            and bill.amount_fen == draft.amount_fen and Decimal(bill.kwh) == draft.kwh)


def bill_from_draft(draft: BillDraft, *, account: Account, run: BillRun | None, as_of: date, created_at: datetime,
                     due_days: int, replaces: Bill | None = None) -> Bill:
    bill = Bill(account=account, period=draft.period, created_at=created_at, run=run, replaces=replaces)
    _apply_draft(bill, draft, run=run, as_of=as_of, due_days=due_days)
    return bill


def _apply_draft(bill: Bill, draft: BillDraft, *, run: BillRun | None, as_of: date, due_days: int) -> None:
    bill.start_date = draft.start_date
    bill.end_date = draft.end_date
    bill.status = draft.status
    bill.tariff_id = draft.tariff_id
    bill.kwh = draft.kwh
    bill.amount_fen = draft.amount_fen
    bill.is_estimate = draft.is_estimate
    bill.hold_codes = draft.hold_codes
    bill.readings = {**draft.readings, "_reading_ids": draft.reading_ids}
    bill.explanation = draft.explanation
    bill.facts = draft.facts
    bill.run = run
    if draft.status == "ISSUED":
        bill.issued_date = as_of
        bill.due_date = as_of + timedelta(days=due_days)
    else:
        bill.issued_date = None
        bill.due_date = None


def _post(bill: Bill, *, created_at: datetime, apply_credit: bool = True) -> None:
    ledger.post_bill(bill=bill, created_at=created_at)
    if apply_credit:
        ledger.apply_credit(account=bill.account, created_at=created_at)


def order_estimate_streak_visits(*, bills: Iterable[Bill], as_of: date, created_at: datetime) -> None:
    """An on-site reading for each account whose bill is held on ESTIMATE_STREAK (once per open order)."""
    for bill in bills:
        if "ESTIMATE_STREAK" in (bill.hold_codes or []):
            order_site_visit(account=bill.account, code="ESTIMATE_STREAK", ordered_date=as_of,
                             detail={"period": bill.period, "bill": bill.pk}, created_at=created_at)


def notify_bill_shock(*, bill: Bill, created_at: datetime) -> None:
    """The customer is told before the bill goes out: an AuditEvent CUSTOMER_NOTIFIED_BILL_SHOCK (once per bill)."""
    notify_bill_shocks(bills=[bill], created_at=created_at)


def notify_bill_shocks(*, bills: list[Bill], created_at: datetime) -> None:
    """`notify_bill_shock` for many bills: one look-up for notices already given and one for the phones."""
    if not bills:
        return
    from gridcounter.data.audit.models import AuditEvent

    told = set(AuditEvent.objects.filter(action="CUSTOMER_NOTIFIED_BILL_SHOCK", object_type=Bill._meta.label,
                                         object_id__in=[str(b.pk) for b in bills]).values_list("object_id", flat=True))
    phones = dict(Account.objects.filter(pk__in={b.account_id for b in bills}).values_list("id", "customer__phone"))
    texts = []
    for bill in bills:
        if str(bill.pk) in told:
            continue
        told.add(str(bill.pk))
        shock = next((r for r in bill.explanation if r.get("code") == "BILL_SHOCK"), {})
        record_event(action="CUSTOMER_NOTIFIED_BILL_SHOCK", obj=bill, occurred_at=created_at,
                     detail={"account": bill.account.number, "period": bill.period,
                             "phone": phones.get(bill.account_id, ""),
                             "amount_fen": bill.amount_fen, "text_zh": shock.get("text_zh", ""),
                             "text_en": shock.get("text_en", ""), "numbers": shock.get("numbers", {})})
        numbers = shock.get("numbers", {})
        basis = WORDS["SAME_PERIOD_LAST_YEAR" if numbers.get("basis") == "SAME_PERIOD_LAST_YEAR" else "RECENT_AVERAGE"]
        subject, body = notice_text("BILL_SHOCK", "zh-hans", account=bill.account.number, period=bill.period,
                                    amount=yuan(bill.amount_fen), basis=(basis.zh, basis.en),
                                    baseline=yuan(int(numbers.get("baseline_fen", 0))),
                                    increase=numbers.get("increase_pct", ""))
        texts.append(NoticeText(account=bill.account, kind="BILL_SHOCK", subject=subject, body=body,
                                source_type=Bill._meta.label, source_id=str(bill.pk)))
    queue_notices(texts, created_at=created_at)


# --- inputs, loaded in bulk per route ---------------------------------------------------------------------

@dataclass(frozen=True)
class IntervalInput:
    """One account's 15-minute interval usage for the period: its usage row and findings (see intervals.md)."""

    row: dict
    findings: list
    blocking: frozenset[str]


def interval_metered(*, account_ids: Iterable[int], billing: BillingPeriod) -> set[int]:
    """The accounts served in the period by a meter marked as sending 15-minute intervals (one query per 2,000)."""
    found: set[int] = set()
    ids = list(account_ids)
    for chunk in _chunks(ids):
        found.update(Installation.objects.filter(
            account_id__in=chunk, meter__sends_intervals=True, installed_date__lt=billing.end_date).filter(
            Q(removed_date__isnull=True) | Q(removed_date__gt=billing.start_date)).values_list("account_id", flat=True))
    return found


def route_intervals(*, route: Route, billing: BillingPeriod, catalogue=None,
                    account_ids: Iterable[int] | None = None,
                    metered: Iterable[int] | None = None) -> dict[int, IntervalInput]:
    """The accounts of `route` with intervals stored for the period, or whose meter sends intervals (`metered`,
    else looked up: `interval_metered`), among `account_ids` when given. Such a meter that sent nothing for the
    period gives its account a GAP hold, not a bill from the registers.

    A route without interval files and without such meters costs one look at its partition folder (and the
    look-up). Otherwise one `interval_usage` for the whole route (its intervals scanned and binned in one pass).
    """
    from gridcounter.application.readings import interval_dir, interval_rules, interval_usage, partition_dir

    wanted = None if account_ids is None else set(account_ids)
    if metered is None:
        metered = interval_metered(account_ids=wanted if wanted is not None else route.accounts.values_list(
            "pk", flat=True), billing=billing)
    expected = sorted(a for a in metered if wanted is None or a in wanted)
    folder = partition_dir(root=interval_dir(), period=billing.period, route_code=route.code)
    if not expected and (not folder.is_dir() or next(folder.glob("part-*.parquet"), None) is None):
        return {}
    rules = interval_rules()
    result = interval_usage(route_code=route.code, period=billing.period, catalogue=catalogue or get_catalogue(),
                            rules=rules, expected_ids=expected)
    out = {}
    for row in result.usage.iter_rows(named=True):
        if wanted is None or row["account_id"] in wanted:
            out[row["account_id"]] = IntervalInput(row=row, findings=result.findings_for(row["account_id"]),
                                                   blocking=rules.blocking)
    return out


def gather_inputs(*, accounts: list[Account], billing: BillingPeriod, tariffs,
                  exclude_bill_ids: Iterable[int] = (), intervals: dict[int, IntervalInput] | None = None,
                  catalogue=None) -> dict[int, tuple]:
    """For each account: (CycleUsage, [TariffSegment], AccountFacts), with a few queries for all of them.

    Queries (whatever the number of accounts): installations with their meters, the readings within
    `WINDOW_DAYS` of the two fixed days (validation codes only for HELD ones, the only codes that stop a bill),
    the tariff history of accounts changed since the period began, the earlier bills needed for comparisons
    and catch-up, and the year-to-date kWh. No query runs per account.

    Accounts with 15-minute intervals stored for the period are billed from them (`interval_cycle_usage`):
    `intervals` when given (by account id), else read per route (`route_intervals`).
    """
    ids = [a.id for a in accounts]
    if not ids:
        return {}
    if intervals is None:
        intervals = {}
        by_route: dict[int, list[Account]] = defaultdict(list)
        for account in accounts:
            if account.route_id is not None:
                by_route[account.route_id].append(account)
        metered = interval_metered(account_ids=ids, billing=billing)
        for route in Route.objects.filter(pk__in=list(by_route)):
            intervals.update(route_intervals(route=route, billing=billing, catalogue=catalogue,
                                             account_ids=[a.id for a in by_route[route.pk]], metered=metered))
    installations = _installations(ids=ids, billing=billing)
    meter_ids = sorted({i.meter_id for refs in installations.values() for i in refs})
    readings = _fixed_day_readings(meter_ids=meter_ids, billing=billing)
    segments = _tariff_segments(accounts=accounts, billing=billing)
    history = _bill_history(ids=ids, billing=billing, exclude_bill_ids=exclude_bill_ids)
    ytd = _ytd(ids=ids, billing=billing, exclude_bill_ids=exclude_bill_ids)
    no_history: dict[str, dict] = {}
    zero = Decimal(0)
    max_estimates = validation_rules().max_consecutive_estimates
    out = {}
    for account in accounts:
        usage = cycle_usage(billing=billing, installations=installations.get(account.id, []),
                            readings_by_meter=readings)
        interval = intervals.get(account.id)
        if interval is not None:
            usage = interval_cycle_usage(register=usage, row=interval.row, findings=interval.findings,
                                         blocking=interval.blocking)
        past = history.get(account.id, no_history)
        facts = AccountFacts(
            account_id=account.id, household_size=account.household_size,
            capacity_kva=None if account.capacity_kva is None else Decimal(account.capacity_kva),
            contract_demand_kw=None if account.contract_demand_kw is None else Decimal(account.contract_demand_kw),
            ytd_kwh=ytd.get(account.id, zero), previous=_figures(past.get(billing.previous)),
            last_year=_figures(past.get(billing.last_year)),
            recent=[f for f in (_figures(past.get(p)) for p in billing.recent) if f is not None],
        )
        facts.estimates_in_a_row = _estimates_in_a_row(past=past, billing=billing)
        facts.max_estimates = max_estimates
        if usage.estimated_previous and not usage.estimated_registers:
            facts.catch_up = _catch_up(past=past, billing=billing, kwh=usage.total_kwh)
        out[account.id] = (usage, segments[account.id], facts)
    return out


def _chunks(items: list, size: int = 2000):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _installations(*, ids: list[int], billing: BillingPeriod) -> dict[int, list[InstallationRef]]:
    """The installations serving each account at some time in the period, oldest first, with their meters."""
    out: dict[int, list[InstallationRef]] = defaultdict(list)
    for chunk in _chunks(ids):
        for (account_id, meter_id, asset_number, digits, multiplier, registers, installed, removed, initial,
             final) in (Installation.objects.filter(account_id__in=chunk, installed_date__lt=billing.end_date)
                        .filter(Q(removed_date__isnull=True) | Q(removed_date__gt=billing.start_date))
                        .order_by("installed_date", "id")
                        .values_list("account_id", "meter_id", "meter__asset_number", "meter__digits",
                                     "meter__multiplier", "meter__registers", "installed_date", "removed_date",
                                     "initial_readings", "final_readings")):
            out[account_id].append(InstallationRef(
                meter_id=meter_id, asset_number=asset_number, digits=digits, multiplier=Decimal(multiplier),
                registers=tuple(registers or ["TOTAL"]), installed_date=installed, removed_date=removed,
                initial_readings=initial or {}, final_readings=final or {},
            ))
    return out


def _fixed_day_readings(*, meter_ids: list[int], billing: BillingPeriod) -> dict[int, list[ReadingRef]]:
    """Usable readings of the meters within `WINDOW_DAYS` of the period's two fixed days, by meter."""
    window = timedelta(days=WINDOW_DAYS)
    near = (Q(read_date__gte=billing.start_date - window, read_date__lte=billing.start_date + window)
            | Q(read_date__gte=billing.end_date - window, read_date__lte=billing.end_date + window))
    rows = []
    held = []
    for chunk in _chunks(meter_ids):
        for row in (Reading.objects.filter(meter_id__in=chunk, status__in=USABLE_STATUSES).filter(near).order_by()
                    .values_list("id", "meter_id", "register", "read_date", "read_at", "value", "source",
                                 "is_estimate", "status")):
            rows.append(row)
            if row[8] != "ACCEPTED":
                held.append(row[0])
    codes = {}
    for chunk in _chunks(held):
        codes.update((rid, tuple(found or stored or ())) for rid, stored, found in
                     Reading.objects.filter(id__in=chunk).values_list("id", "codes", "findings"))
    readings: dict[int, list[ReadingRef]] = defaultdict(list)
    for rid, meter_id, register, read_date, read_at, value, source, is_estimate, status in rows:
        readings[meter_id].append(ReadingRef(
            reading_id=rid, meter_id=meter_id, register=register, read_date=read_date,
            read_at=read_at.isoformat(), value=value, source=source, is_estimate=is_estimate, status=status,
            codes=codes.get(rid, ()),
        ))
    return readings


def _figures(row: dict | None) -> PeriodFigures | None:
    if row is None:
        return None
    return PeriodFigures(period=row["period"], kwh=Decimal(row["kwh"]), amount_fen=int(row["amount_fen"]),
                         days=(row["end_date"] - row["start_date"]).days)


def _bill_history(*, ids: list[int], billing: BillingPeriod,
                  exclude_bill_ids: Iterable[int]) -> dict[int, dict[str, dict]]:
    wanted = {*billing.earlier[:max(RECENT_PERIODS, ESTIMATE_LOOKBACK)], billing.last_year}
    out: dict[int, dict[str, dict]] = defaultdict(dict)
    for row in (Bill.objects.filter(account_id__in=ids, period__in=wanted).exclude(status=Bill.Status.CANCELLED)
                .exclude(id__in=list(exclude_bill_ids))
                .values("account_id", "period", "kwh", "amount_fen", "start_date", "end_date", "is_estimate")):
        out[row["account_id"]][row["period"]] = row
    return out


def _ytd(*, ids: list[int], billing: BillingPeriod, exclude_bill_ids: Iterable[int]) -> dict[int, Decimal]:
    """kWh of live bills with earlier periods in the calendar year the period starts in (for annual tiers)."""
    year = billing.start_date.year
    rows = (Bill.objects.filter(account_id__in=ids, period__gte=f"{year:04d}-01", period__lt=billing.period)
            .exclude(status=Bill.Status.CANCELLED).exclude(id__in=list(exclude_bill_ids))
            .values("account_id").annotate(total=Sum("kwh")))
    return {r["account_id"]: Decimal(r["total"] or 0) for r in rows}


def _estimates_in_a_row(*, past: dict[str, dict], billing: BillingPeriod) -> int:
    """How many of the bills just before the period were estimated, in a row."""
    count = 0
    for earlier in billing.earlier[:ESTIMATE_LOOKBACK]:
        row = past.get(earlier)
        if row is None or not row["is_estimate"]:
            break
        count += 1
    return count


def _catch_up(*, past: dict[str, dict], billing: BillingPeriod, kwh: Decimal) -> CatchUp:
    """After estimated bills, an actual reading settles what the estimates missed or overcharged.

    Settled kWh = this bill's kWh − the usage an ordinary cycle of the same length would have had (the daily
    rate of the last estimated bill).
    """
    days = billing.days
    cycles = 0
    last_estimate = None
    for earlier in billing.earlier[:ESTIMATE_LOOKBACK]:
        row = past.get(earlier)
        if row is None or not row["is_estimate"]:
            break
        cycles += 1
        last_estimate = last_estimate or row
    if last_estimate is None:
        return CatchUp(estimated_cycles=max(cycles, 1), settled_kwh=Decimal(0))
    prior_days = (last_estimate["end_date"] - last_estimate["start_date"]).days or days
    ordinary = Decimal(last_estimate["kwh"]) * days / prior_days
    return CatchUp(estimated_cycles=cycles, settled_kwh=(kwh - ordinary).quantize(Decimal("0.01")))


def _tariff_segments(*, accounts: list[Account], billing: BillingPeriod) -> dict[int, list[TariffSegment]]:
    """Each account's (tariff, usage category) over the period, split where its history shows a change."""
    ids = [a.id for a in accounts]
    since = start_of_business_day(billing.start_date)
    changed = set(Account.history.filter(id__in=ids, history_date__gte=since).values_list("id", flat=True))
    versions: dict[int, list[tuple[date, str, str]]] = defaultdict(list)
    if changed:
        for row in (Account.history.filter(id__in=changed).order_by("history_date", "history_id")
                    .values("id", "history_date", "tariff_id", "usage_category")):
            versions[row["id"]].append((business_date(row["history_date"]), row["tariff_id"], row["usage_category"]))
    out = {}
    for account in accounts:
        rows = versions.get(account.id)
        if not rows:
            out[account.id] = [TariffSegment(account.tariff_id, account.usage_category, billing.start_date,
                                             billing.end_date)]
            continue
        at_start = [r for r in rows if r[0] <= billing.start_date]
        state = (at_start[-1] if at_start else rows[0])[1:]
        cuts: list[tuple[date, str, str]] = [(billing.start_date, *state)]
        for day, tariff_id, category in rows:
            if billing.start_date < day < billing.end_date and (tariff_id, category) != cuts[-1][1:]:
                if cuts[-1][0] == day:
                    cuts[-1] = (day, tariff_id, category)
                else:
                    cuts.append((day, tariff_id, category))
        segs = []
        for i, (day, tariff_id, category) in enumerate(cuts):
            end = cuts[i + 1][0] if i + 1 < len(cuts) else billing.end_date
            segs.append(TariffSegment(tariff_id, category, day, end))
        out[account.id] = segs
    return out


# --- one account: drafts for review, corrections and rebilling --------------------------------------------

def draft_for_account(*, account: Account, period: str, catalogue=None, correction: Correction | None = None,
                      exclude_bill_ids: Iterable[int] = (), shock_threshold_pct: Decimal | None = None) -> BillDraft:
    """The bill `period` would get now for one account (same rules as the run). Raises: InvalidPeriod."""
    catalogue = catalogue or get_catalogue()
    threshold = shock_threshold_setting() if shock_threshold_pct is None else Decimal(shock_threshold_pct)
    if account.route_id is None:
        raise UnknownRoute(f"account {account.number} is on no reading route")
    billing = billing_period(period=period, reading_day=account.route.reading_day)
    usage, segments, facts = gather_inputs(accounts=[account], billing=billing, tariffs=catalogue.tariffs,
                                           exclude_bill_ids=exclude_bill_ids, catalogue=catalogue)[account.id]
    facts.correction = correction
    return draft_bill(billing=billing, usage=usage, segments=segments, tariffs=catalogue.tariffs, facts=facts,
                      shock_threshold_pct=threshold)


@dataclass(frozen=True)
class Rebill:
    old_bill: Bill
    new_bill: Bill


@ledger.retrying
def rebill(*, bill: Bill, as_of: date, created_at: datetime, reason: str, catalogue=None,
           issue_if_clean: bool = True) -> Rebill:
    """Cancel `bill` and bill its account and period again from the readings as they are now.

    An issued bill's cancellation is posted to the ledger (`cancel_bill`); the new bill `replaces` the old one,
    states the difference in its explanation (CORRECTION_DIFFERENCE) and, when issued, is posted on its own:
    the ledger shows the cancellation and the new bill as two entries whose sum is the difference.
    Nothing is deleted. Runs inside the caller's transaction (or its own).

    Locks the account before the bill (the ledger's lock order, `ledger._locks`).
    Raises: BillNotLive (the bill is cancelled already), ledger.ReasonRequired, ledger.Contention.
    """
    if not reason or not reason.strip():
        raise ledger.ReasonRequired("rebilling needs a reason")
    with transaction.atomic():
        ledger.lock_account(Bill.objects.values_list("account_id", flat=True).get(pk=bill.pk))
        bill = Bill.objects.select_for_update(of=("self",)).select_related("account", "account__route", "account__customer").get(
            pk=bill.pk)
        if bill.status == Bill.Status.CANCELLED:
            raise BillNotLive(f"bill {bill.pk} ({bill.account} {bill.period}) is already cancelled")
        was_issued = bill.status == Bill.Status.ISSUED
        old_amount = bill.amount_fen
        bill.status = Bill.Status.CANCELLED
        bill._change_reason = reason[:100]
        bill.save(update_fields=["status"])
        if was_issued:
            ledger.cancel_bill(bill=bill, created_at=created_at, reason=reason)
        correction = Correction(replaces_bill_id=bill.pk, old_amount_fen=old_amount, new_amount_fen=0,
                                old_kwh=Decimal(bill.kwh), reason=reason)
        draft = draft_for_account(account=bill.account, period=bill.period, catalogue=catalogue,
                                  correction=correction if was_issued else None, exclude_bill_ids=[bill.pk])
        if not issue_if_clean and draft.status == "ISSUED":
            draft.status = "HELD"
        new = bill_from_draft(draft, account=bill.account, run=None, as_of=as_of, created_at=created_at,
                               due_days=due_days_setting(), replaces=bill)
        new._change_reason = reason[:100]
        new.save()
        BillLine.objects.bulk_create([
            BillLine(bill=new, position=line.position, code=line.code, description=line.description,
                     description_en=line.description_en, quantity=line.quantity, unit=line.unit,
                     unit_price=line.unit_price, amount_fen=line.amount_fen, tier=line.tier,
                     tou_period=line.tou_period, segment_start_date=line.segment_start_date,
                     segment_end_date=line.segment_end_date)
            for line in draft.lines
        ])
        if new.status == Bill.Status.ISSUED:
            _post(new, created_at=created_at)
        elif was_issued:
            ledger.apply_credit(account=bill.account, created_at=created_at)
        if "BILL_SHOCK" in new.hold_codes:
            notify_bill_shock(bill=new, created_at=created_at)
        record_event(action="BILL_REBILLED", obj=new, occurred_at=created_at, reason=reason,
                     detail={"account": bill.account.number, "period": bill.period, "old_bill": bill.pk,
                             "old_amount_fen": old_amount, "new_amount_fen": new.amount_fen,
                             "difference_fen": new.amount_fen - old_amount if was_issued else None,
                             "new_status": new.status})
    return Rebill(old_bill=bill, new_bill=new)


class BillNotLive(Exception):
    """The bill is cancelled: nothing to rebill."""


def bills_using_readings(*, reading_ids: Iterable[int], account_id: int) -> list[Bill]:
    """Live bills of the account whose readings include any of `reading_ids`, oldest period first."""
    wanted = set(reading_ids)
    out = []
    for bill in (Bill.objects.filter(account_id=account_id).exclude(status=Bill.Status.CANCELLED)
                 .order_by("period", "id")):
        used = set((bill.readings or {}).get("_reading_ids", []))
        if used & wanted:
            out.append(bill)
    return out


def local_today(moment: datetime) -> date:
    """The Asia/Shanghai date of an aware timestamp."""
    return business_date(moment)


def bill_as_dict(bill: Bill) -> dict:
    """A bill for the CLI and the API: amounts in fen and yuan, its lines and its explanation."""
    return {
        "id": bill.pk, "account": bill.account.number, "period": bill.period, "status": bill.status,
        "start_date": bill.start_date.isoformat(), "end_date": bill.end_date.isoformat(),
        "days": (bill.end_date - bill.start_date).days, "tariff": bill.tariff_id, "kwh": str(bill.kwh),
        "amount_fen": bill.amount_fen, "amount_yuan": f"{'-' if bill.amount_fen < 0 else ''}"
        f"{abs(bill.amount_fen) // 100}.{abs(bill.amount_fen) % 100:02d}",
        "is_estimate": bill.is_estimate, "hold_codes": list(bill.hold_codes or []),
        "issued_date": bill.issued_date.isoformat() if bill.issued_date else None,
        "due_date": bill.due_date.isoformat() if bill.due_date else None,
        "replaces": bill.replaces_id,
        "lines": [{"code": line.code, "description": line.description, "description_en": line.description_en,
                   "quantity": str(line.quantity), "unit": line.unit, "unit_price": str(line.unit_price),
                   "amount_fen": line.amount_fen, "tier": line.tier, "tou_period": line.tou_period}
                  for line in bill.lines.all()],
        "explanation": list(bill.explanation or []),
        "readings": {k: v for k, v in (bill.readings or {}).items() if not k.startswith("_")},
    }


def bills_for_account(*, account: Account, period: str | None = None, include_cancelled: bool = False) -> list[dict]:
    """The account's bills (newest period first) as dicts with lines and explanation. Raises: InvalidPeriod."""
    qs = Bill.objects.filter(account=account).select_related("account").prefetch_related("lines")
    if period:
        parse_period(period)
        qs = qs.filter(period=period)
    if not include_cancelled:
        qs = qs.exclude(status=Bill.Status.CANCELLED)
    return [bill_as_dict(b) for b in qs.order_by("-period", "-id")]
