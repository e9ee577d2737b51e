"""What the customer screen shows: everything a clerk needs to answer "why is my bill so high" on one page.

A read model: read-only, and the account has already passed ``access_account``. The interface draws it (the usage
chart's geometry is the web's own, from `MonthlyUsage`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Q, Sum, prefetch_related_objects

from gridcounter.application.billing import monthly_kwh_from_bills, monthly_kwh_from_readings, reason_text
from gridcounter.application.ledger import AccountArrears, account_arrears, balance_fen
from gridcounter.application.notices import notices_of
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, LedgerAccount
from gridcounter.data.readings.models import Reading, ReviewItem, SiteVisitOrder
from gridcounter.data.registry.models import Account
from gridcounter.domain.billing.periods import period_of

READINGS_SHOWN = 36
BILLS_SHOWN = 24
LEDGER_SHOWN = 36
NOTICES_SHOWN = 10
# What the screen never shows of a bill (its PDF and the review queue do): not loaded.
UNSHOWN_BILL_FIELDS = ("facts", "readings")


@dataclass
class BillView:
    bill: Bill
    reasons: list[dict]  # {"code", "text"} in the request's language
    outstanding_fen: int | None  # unpaid part of an issued bill; None when nothing is open


@dataclass
class ReadingView:
    reading: Reading
    findings: list[dict]  # {"code", "severity", "text"} in the request's language


@dataclass
class LedgerRow:
    entry: JournalEntry
    amount_fen: int  # receivable side: positive the customer owes more, negative less
    balance_fen: int  # running balance after this entry


@dataclass(frozen=True)
class MonthlyUsage:
    """kWh by period for the usage chart: billed months, and months without a bill filled from readings."""

    kwh_by_period: dict
    estimated_periods: set
    last_period: str  # the latest month with figures, never after the business date's month
    source: str  # BILLS, READINGS or BILLS_AND_READINGS
    read_periods: set  # the months whose figure comes from readings


@dataclass
class CustomerScreen:
    account: Account
    installations: list
    readings: list[ReadingView]
    bills: list[BillView]
    ledger: list[LedgerRow]
    balance_fen: int
    held_readings: list[ReadingView]
    held_bills: list
    open_review_items: list
    open_site_visits: list
    usage: MonthlyUsage
    arrears: AccountArrears
    penalty_working: list[str]  # the penalty's working, one sentence per step, in the request's language
    review_items: int = field(default=0)
    notices: list = field(default_factory=list)  # what the customer was told lately, newest first


def finding_text(finding: dict, *, language: str) -> str:
    """A reading-validation finding's reason in the request's language."""
    if language.lower().startswith("zh"):
        return finding.get("reason_zh") or finding.get("reason_en") or finding.get("code", "")
    return finding.get("reason_en") or finding.get("reason_zh") or finding.get("code", "")


def _reading_view(reading: Reading, *, language: str) -> ReadingView:
    findings = [
        {"code": f.get("code", ""), "severity": f.get("severity", ""), "text": finding_text(f, language=language)}
        for f in (reading.findings or [])
    ]
    return ReadingView(reading=reading, findings=findings)


def _ledger_rows(account: Account) -> list[LedgerRow]:
    entries = list(
        JournalEntry.objects.filter(account=account)
        .annotate(receivable_fen=Sum(
            "postings__amount_fen",
            filter=Q(postings__ledger_account=LedgerAccount.RECEIVABLE, postings__account=account),
        ))
        .order_by("effective_date", "id")
    )
    rows = []
    running = 0
    for entry in entries:
        amount = int(entry.receivable_fen or 0)
        running += amount
        rows.append(LedgerRow(entry=entry, amount_fen=amount, balance_fen=running))
    rows.reverse()
    rows = rows[:LEDGER_SHOWN]
    # The ledger links each payment's receipt: load those payments in one query, not one per row.
    prefetch_related_objects([r.entry for r in rows if r.entry.kind == JournalEntry.Kind.PAYMENT], "payment")
    return rows


def customer_screen(*, account: Account, as_of: date, language: str) -> CustomerScreen:
    """Assemble the screen for ``account`` as of the business date ``as_of``."""
    installations = list(account.installations.select_related("meter").order_by("-installed_date", "-id"))
    readings = [
        _reading_view(reading, language=language)
        for reading in Reading.objects.filter(account=account).select_related("meter")
        .order_by("-read_at", "-id")[:READINGS_SHOWN]
    ]
    arrears = account_arrears(account=account, as_of=as_of)
    outstanding = {item.bill.pk: item.outstanding_fen for item in arrears.bills}
    text_key = "text_zh" if language.lower().startswith("zh") else "text_en"
    penalty_working = [step[text_key] for step in arrears.penalty.working] if arrears.penalty else []
    bills = [
        BillView(bill=bill, reasons=[
            {"code": reason.get("code", ""), "text": reason_text(reason, language=language)}
            for reason in (bill.explanation or [])
        ], outstanding_fen=outstanding.get(bill.pk))
        for bill in Bill.objects.filter(account=account).defer(*UNSHOWN_BILL_FIELDS)
        .order_by("-period", "-id")[:BILLS_SHOWN]
    ]
    held_readings = [
        _reading_view(reading, language=language)
        for reading in Reading.objects.filter(account=account, status=Reading.Status.HELD)
        .select_related("meter").order_by("read_at")
    ]
    held_bills = list(Bill.objects.filter(account=account, status=Bill.Status.HELD)
                      .defer("explanation", *UNSHOWN_BILL_FIELDS).order_by("period"))
    open_review_items = list(
        ReviewItem.objects.filter(account=account, status=ReviewItem.Status.OPEN).order_by("fixed_date")
    )
    open_site_visits = list(
        SiteVisitOrder.objects.filter(account=account, status=SiteVisitOrder.Status.OPEN).order_by("ordered_date")
    )

    # Bills are the figures the customer was charged for; months without a bill are filled from readings.
    kwh, estimated = monthly_kwh_from_bills(account)
    read_kwh, read_estimated = monthly_kwh_from_readings(account)
    from_readings = {period for period in read_kwh if period not in kwh}
    source = "BILLS" if not from_readings else ("READINGS" if not kwh else "BILLS_AND_READINGS")
    for period in from_readings:
        kwh[period] = read_kwh[period]
        if period in read_estimated:
            estimated.add(period)
    # The chart ends at the latest month with figures (this month's bill usually comes later), never after today.
    known = [period for period in kwh if period <= period_of(as_of)]
    last_period = max(known) if known else period_of(as_of)
    usage = MonthlyUsage(kwh_by_period=kwh, estimated_periods=estimated, last_period=last_period, source=source,
                         read_periods=from_readings)
    return CustomerScreen(
        account=account,
        installations=installations,
        readings=readings,
        bills=bills,
        ledger=_ledger_rows(account),
        balance_fen=balance_fen(account),
        held_readings=held_readings,
        held_bills=held_bills,
        open_review_items=open_review_items,
        open_site_visits=open_site_visits,
        usage=usage,
        arrears=arrears,
        penalty_working=penalty_working,
        review_items=len(held_readings) + len(held_bills) + len(open_review_items) + len(open_site_visits),
        notices=notices_of(account, limit=NOTICES_SHOWN),
    )
