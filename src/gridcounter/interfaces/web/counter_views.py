"""Counter transactions: the receipt after a payment (page and PDF), reversal, a bill as PDF, a reading the
customer brought, and the supervisor's day. Views translate requests; access rules live in access.py."""
from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib import messages
from django.db.models import Count, Sum
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridcounter.application.access import (
    COUNTER_READING_ROLES,
    CUSTOMER_SERVICE_ROLES,
    DAY_VIEW_ROLES,
    SUPERVISOR,
    access_account_by_number,
    access_bill,
    access_payment,
    supervised_halls,
)
from gridcounter.application.ledger import ReasonRequired, ReversalNotAllowed, balance_fen, reverse_payment
from gridcounter.application.readings import ClientKeyConflict, ReadingInputError, parse_value, submit_reading
from gridcounter.data.audit.context import Actor
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import LedgerAccount, Payment, Posting
from gridcounter.data.org.models import StaffUser
from gridcounter.data.readings.models import Reading, ReviewItem
from gridcounter.data.registry.models import Account, Installation
from gridcounter.domain.billing.periods import period_of
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.ledger import format_fen
from gridcounter.domain.money_words import fen_in_capitals
from gridcounter.interfaces.web.chart import UsageChart, usage_chart
from gridcounter.interfaces.web.decorators import is_htmx, staff_required
from gridcounter.interfaces.web.pdf import pdf_response, render_pdf
from gridcounter.interfaces.web.screens import monthly_kwh_from_bills, monthly_kwh_from_readings, reason_text

PDF_LANGUAGES = ("zh-hans", "en")
BILL_CHART_MONTHS = 24
NON_CASH = (Payment.Channel.CARD, Payment.Channel.PREPAY_DEPOSIT, Payment.Channel.BANK_WITHHOLDING,
            Payment.Channel.ONLINE)


# --- receipts -----------------------------------------------------------------------------------------------


@dataclass
class PaidOff:
    period: str
    bill_amount_fen: int
    amount_fen: int
    released: bool  # given back since (payment reversed, bill cancelled)


@dataclass
class Receipt:
    payment: Payment
    taken_local: datetime
    amount_words: str
    paid_off: list[PaidOff]
    balance_after_fen: int  # right after this payment; negative is credit
    credit_fen: int  # the part of the payment that settled no bill

    @property
    def reversed(self) -> bool:
        return self.payment.status == Payment.Status.REVERSED


def receipt_for(payment: Payment) -> Receipt:
    """What the receipt says: the bills this payment settled when it was taken and the balance right after."""
    allocations = list(payment.allocations.select_related("bill").filter(allocated_at=payment.taken_at)
                       .order_by("bill__period", "id"))
    paid_off = [PaidOff(period=a.bill.period, bill_amount_fen=a.bill.amount_fen, amount_fen=a.amount_fen,
                        released=a.released_at is not None) for a in allocations]
    balance = Posting.objects.filter(account_id=payment.account_id, ledger_account=LedgerAccount.RECEIVABLE,
                                     entry_id__lte=payment.entry_id).aggregate(total=Sum("amount_fen"))["total"]
    return Receipt(
        payment=payment, taken_local=timezone.localtime(payment.taken_at, BUSINESS_TZ),
        amount_words=fen_in_capitals(payment.amount_fen), paid_off=paid_off,
        balance_after_fen=int(balance or 0),
        credit_fen=payment.amount_fen - sum(p.amount_fen for p in paid_off),
    )


@staff_required(*CUSTOMER_SERVICE_ROLES)
def payment_done(request, pk: int):
    """After booking: the receipt number, what was paid off, the balance, and the receipt to print."""
    payment = access_payment(user=request.user, payment_id=pk)
    return render(request, "web/counter/payment_done.html", {
        "receipt": receipt_for(payment), "account": payment.account,
        "balance_fen": _current_balance(payment.account),
    })


def _current_balance(account: Account) -> int:
    return balance_fen(account)


@staff_required(*CUSTOMER_SERVICE_ROLES)
def receipt_pdf(request, pk: int):
    payment = access_payment(user=request.user, payment_id=pk)
    language = _pdf_language(request)
    with translation.override(language):
        content = render_pdf(template="web/pdf/receipt.html", request=request, context={
            "receipt": receipt_for(payment), "account": payment.account, "language": language,
            "printed_local": timezone.localtime(timezone.now(), BUSINESS_TZ), "printed_by": request.user,
        })
    return pdf_response(content=content, filename=f"receipt-{payment.receipt_number}.pdf")


@require_POST
@staff_required(SUPERVISOR)
def reverse_payment_view(request, pk: int):
    """A supervisor takes a payment back from the customer screen's ledger; the reason is required."""
    payment = access_payment(user=request.user, payment_id=pk)
    account = payment.account
    try:
        result = reverse_payment(payment=payment, supervisor=request.user, reason=request.POST.get("reason", ""),
                                 reversed_at=timezone.now())
    except ReasonRequired:
        messages.error(request, _("Payment %(receipt)s not reversed. Reason: say why the payment is taken back.")
                       % {"receipt": payment.receipt_number})
        return redirect("account", number=account.number)
    except ReversalNotAllowed:
        return render(request, "web/403.html", status=403)
    if result.replayed:
        messages.info(request, _("Payment %(receipt)s was already reversed; nothing changed.")
                      % {"receipt": payment.receipt_number})
    else:
        messages.success(request, _("Payment %(receipt)s reversed. Balance now %(balance)s yuan.") % {
            "receipt": payment.receipt_number, "balance": _yuan(result.balance_fen)})
    return redirect("account", number=account.number)


# --- a bill as PDF ------------------------------------------------------------------------------------------


@dataclass
class ReadingUsed:
    register: str
    meter: str
    multiplier: str
    previous_value: str
    previous_date: str
    previous_estimated: bool
    current_value: str
    current_date: str
    current_estimated: bool


@dataclass
class BillLineView:
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount_fen: int

    @property
    def percent_of_fen(self) -> int | None:
        """A percentage line (the power-factor adjustment) is a share of the charges: their total in fen.

        Its stored unit price is yuan per percentage point, which reads as nonsense on paper."""
        if self.unit != "%":
            return None
        return int((Decimal(self.unit_price) * 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class BillPrint:
    bill: Bill
    company: str
    hall: str
    home_hall: str
    last_day: date  # the period is half-open: the customer reads its last day
    days: int
    readings: list[ReadingUsed]
    lines: list[BillLineView]
    reasons: list[dict]
    chart: UsageChart
    lines_total_fen: int = field(default=0)


def _readings_used(bill: Bill) -> list[ReadingUsed]:
    rows = []
    for register, spans in (bill.readings or {}).items():
        if register.startswith("_"):
            continue
        for span in spans if isinstance(spans, list) else [spans]:
            previous, current = span.get("previous") or {}, span.get("current") or {}
            rows.append(ReadingUsed(
                register=Reading.Register(register).label if register in Reading.Register.values else register,
                meter=span.get("meter", ""), multiplier=span.get("multiplier", ""),
                previous_value=previous.get("value", ""), previous_date=previous.get("date", ""),
                previous_estimated=bool(previous.get("is_estimate")),
                current_value=current.get("value", ""), current_date=current.get("date", ""),
                current_estimated=bool(current.get("is_estimate")),
            ))
    return rows


def bill_print(*, bill: Bill, hall, language: str) -> BillPrint:
    """Everything printed on a bill, in ``language``; ``hall`` is the hall printing it."""
    chinese = language.lower().startswith("zh")
    lines = [BillLineView(description=(line.description if chinese else line.description_en) or line.code,
                          quantity=line.quantity, unit=line.unit, unit_price=line.unit_price,
                          amount_fen=line.amount_fen) for line in bill.lines.order_by("position")]
    kwh, estimated = monthly_kwh_from_bills(bill.account)
    read_kwh, read_estimated = monthly_kwh_from_readings(bill.account)
    from_readings = {p for p in read_kwh if p not in kwh}
    for period in from_readings:
        kwh[period] = read_kwh[period]
        if period in read_estimated:
            estimated.add(period)
    chart = usage_chart(kwh_by_period=kwh, estimated_periods=estimated, last_period=bill.period,
                        months=BILL_CHART_MONTHS, read_periods=from_readings)
    account = bill.account
    return BillPrint(
        bill=bill, company=account.city.company.name, hall=hall.name if hall else "",
        home_hall=account.home_hall.name, last_day=bill.end_date - timedelta(days=1),
        days=(bill.end_date - bill.start_date).days, readings=_readings_used(bill), lines=lines,
        reasons=[{"code": r.get("code", ""), "text": reason_text(r, language=language)}
                 for r in (bill.explanation or [])],
        chart=chart, lines_total_fen=sum(line.amount_fen for line in lines),
    )


@staff_required(*CUSTOMER_SERVICE_ROLES)
def bill_pdf(request, pk: int):
    """``/bills/<id>.pdf?lang=zh-hans|en``: the bill as the customer takes it home."""
    bill = access_bill(user=request.user, bill_id=pk)
    language = _pdf_language(request)
    with translation.override(language):
        content = render_pdf(template="web/pdf/bill.html", request=request, context={
            "doc": bill_print(bill=bill, hall=request.user.hall, language=language), "account": bill.account,
            "language": language, "printed_local": timezone.localtime(timezone.now(), BUSINESS_TZ),
        })
    return pdf_response(content=content, filename=f"bill-{bill.account.number}-{bill.period}.pdf")


def _pdf_language(request) -> str:
    wanted = (request.GET.get("lang") or translation.get_language() or "zh-hans").lower()
    if wanted.startswith("zh"):
        return "zh-hans"
    return "en" if wanted.startswith("en") else "zh-hans"


# --- a reading the customer brought -------------------------------------------------------------------------


def reading_form(*, account: Account, today: date) -> dict:
    """The counter's reading form: the meter in service and its registers prefilled, a fresh client key.

    The key makes a double submission of the same form store the reading once.
    """
    installations = list(Installation.objects.filter(account=account).select_related("meter")
                         .order_by("removed_date", "-installed_date"))
    in_service = [i for i in installations if i.removed_date is None or i.removed_date > today]
    meters = [{"asset_number": i.meter.asset_number,
               "registers": [(r, Reading.Register(r).label) for r in (i.meter.registers or ["TOTAL"])
                             if r in Reading.Register.values]} for i in in_service]
    return {"meters": meters, "date": today.isoformat(), "client_key": f"counter-{uuid.uuid4().hex}"}


class CounterReadingError(ValueError):
    """A field of the counter's reading form is wrong; ``field`` names it."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def _installed_meter(*, account: Account, asset_number: str, day: date):
    installation = (Installation.objects.filter(account=account, meter__asset_number=asset_number,
                                                installed_date__lte=day)
                    .select_related("meter").order_by("-installed_date").first())
    if installation is None or (installation.removed_date is not None and installation.removed_date <= day):
        raise CounterReadingError(_("Meter: %(meter)s is not installed for this account on %(date)s.")
                                  % {"meter": asset_number or "—", "date": day.isoformat()}, field="meter")
    return installation.meter


def _read_date(raw: str, *, today: date) -> date:
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        raise CounterReadingError(_("Reading date: “%(value)s” is not a date like %(example)s.")
                                  % {"value": raw, "example": today.isoformat()}, field="read_date")
    if day > today:
        raise CounterReadingError(_("Reading date: %(date)s is in the future.") % {"date": day.isoformat()},
                                  field="read_date")
    return day


@require_POST
@staff_required(*COUNTER_READING_ROLES)
def enter_reading(request, number: str):
    """Store the reading through the same validation as every other (source CUSTOMER); show the outcome."""
    account = access_account_by_number(user=request.user, number=number)
    now = timezone.now()
    today = timezone.localdate(now)
    context = {"account": account, "form": reading_form(account=account, today=today)}
    posted = {"meter": request.POST.get("meter", ""), "register": request.POST.get("register", ""),
              "value": request.POST.get("value", ""), "read_date": request.POST.get("read_date", "")}
    try:
        day = _read_date(posted["read_date"], today=today)
        meter = _installed_meter(account=account, asset_number=posted["meter"], day=day)
        value = parse_value(posted["value"])
        # Today's reading carries the moment it was typed; an earlier day's, noon of that day.
        read_at = now if day == today else datetime.combine(day, time(12, 0), tzinfo=BUSINESS_TZ)
        client_key = request.POST.get("client_key", "")[:64] or None
        register = posted["register"] or "TOTAL"
        if client_key:
            # The same form sent again (double click, resubmitted page): the reading it stored keeps its moment,
            # so the retry is recognised as the same reading rather than refused as a different one.
            earlier = Reading.objects.filter(client_key=client_key, meter=meter, register=register,
                                             read_date=day).values_list("read_at", flat=True).first()
            read_at = earlier or read_at
        outcome = submit_reading(
            meter=meter, register=register, read_at=read_at, value=value,
            source=Reading.Source.CUSTOMER, client_key=client_key,
            actor=Actor(user=request.user, hall=request.user.hall, reason=_("reading brought to the counter"),
                        channel="WEB"),
            received_at=now,
        )
    except (CounterReadingError, ReadingInputError) as error:
        context.update(error=str(error), error_field=error.field, posted=posted)
    except ClientKeyConflict:
        context.update(error=_("The form was out of date. Check the readings and enter the value again."),
                       posted=posted)
    else:
        context["outcome"] = outcome
        context["reasons"] = outcome.reasons(translation.get_language() or "zh-hans")
    template = "web/counter/_reading_card.html" if is_htmx(request) else "web/counter/reading_result.html"
    return render(request, template, context, status=422 if context.get("error") and not is_htmx(request) else 200)


# --- the supervisor's day -----------------------------------------------------------------------------------


def share_percent(part_fen: int, total_fen: int) -> Decimal | None:
    """``part`` as a percentage of ``total``, one decimal, rounded half up; None when nothing was taken."""
    if total_fen <= 0:
        return None
    return (Decimal(part_fen) * 100 / Decimal(total_fen)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class Takings:
    count: int = 0
    amount_fen: int = 0
    non_cash_fen: int = 0
    by_channel: dict = field(default_factory=lambda: defaultdict(int))

    def add(self, *, channel: str, count: int, amount_fen: int) -> None:
        self.count += count
        self.amount_fen += amount_fen
        self.by_channel[channel] += amount_fen
        if channel in NON_CASH:
            self.non_cash_fen += amount_fen

    @property
    def non_cash_share(self) -> Decimal | None:
        return share_percent(self.non_cash_fen, self.amount_fen)

    @property
    def cash_fen(self) -> int:
        return self.amount_fen - self.non_cash_fen


@dataclass
class HallDay:
    hall: object
    takings: Takings
    clerks: list  # [(clerk, Takings)]


@dataclass
class DaySummary:
    day: date
    halls: list[HallDay]
    total: Takings
    channels: list  # [(label, count, amount_fen, share)]
    reversed_count: int
    reversed_fen: int
    held_bills: int
    held_bill_codes: list  # [(code, count)]
    held_readings: int
    open_review_items: int


def day_summary(*, halls, day: date) -> DaySummary:
    """Payments taken at ``halls`` on the business date ``day`` and what awaits a decision in their cities.

    Reversed payments are left out of the takings and counted apart.
    """
    halls = list(halls)
    rows = (Payment.objects.filter(hall__in=halls, taken_date=day)
            .values("hall_id", "clerk_id", "channel", "status")
            .annotate(n=Count("id"), total=Sum("amount_fen")).order_by())
    total = Takings()
    per_hall: dict[int, Takings] = defaultdict(Takings)
    per_clerk: dict[tuple[int, int | None], Takings] = defaultdict(Takings)
    channel_counts: Counter = Counter()
    reversed_count = reversed_fen = 0
    for row in rows:
        amount = int(row["total"] or 0)
        if row["status"] == Payment.Status.REVERSED:
            reversed_count += row["n"]
            reversed_fen += amount
            continue
        for takings in (total, per_hall[row["hall_id"]], per_clerk[(row["hall_id"], row["clerk_id"])]):
            takings.add(channel=row["channel"], count=row["n"], amount_fen=amount)
        channel_counts[row["channel"]] += row["n"]
    clerks = {u.pk: u for u in StaffUser.objects.filter(pk__in={c for _h, c in per_clerk if c is not None})}
    hall_days = []
    for hall in sorted(halls, key=lambda h: (h.city_id, h.code)):
        if hall.pk not in per_hall:
            continue
        hall_clerks = sorted(((clerks.get(c), t) for (h, c), t in per_clerk.items() if h == hall.pk),
                             key=lambda pair: -pair[1].amount_fen)
        hall_days.append(HallDay(hall=hall, takings=per_hall[hall.pk], clerks=hall_clerks))
    channels = [(Payment.Channel(code).label, channel_counts[code], total.by_channel[code],
                 share_percent(total.by_channel[code], total.amount_fen))
                for code in Payment.Channel.values if channel_counts[code]]
    city_ids = {h.city_id for h in halls}
    held = Bill.objects.filter(account__city_id__in=city_ids, status=Bill.Status.HELD)
    codes: Counter = Counter()
    for hold_codes in held.values_list("hold_codes", flat=True):
        codes.update(hold_codes or [])
    return DaySummary(
        day=day, halls=hall_days, total=total, channels=channels,
        reversed_count=reversed_count, reversed_fen=reversed_fen,
        held_bills=held.count(), held_bill_codes=codes.most_common(),
        held_readings=Reading.objects.filter(account__city_id__in=city_ids, status=Reading.Status.HELD).count(),
        open_review_items=ReviewItem.objects.filter(account__city_id__in=city_ids,
                                                    status=ReviewItem.Status.OPEN).count(),
    )


@staff_required(*DAY_VIEW_ROLES)
def supervisor_day(request):
    """``/supervisor/day/?date=YYYY-MM-DD``: the day's takings per hall, clerk and channel; the review backlog."""
    halls = supervised_halls(request.user)
    today = timezone.localdate()
    raw = request.GET.get("date", "").strip()
    day, error = today, ""
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            error = _("Date: “%(value)s” is not a date like %(example)s; showing today.") % {
                "value": raw, "example": today.isoformat()}
    return render(request, "web/counter/day.html", {
        "summary": day_summary(halls=halls, day=day), "error": error, "today": today,
        "previous_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "period": period_of(day),
    })


def _yuan(fen: int) -> str:
    return format_fen(fen)


__all__ = [
    "bill_pdf", "bill_print", "day_summary", "enter_reading", "payment_done", "reading_form", "receipt_for", "receipt_pdf", "reverse_payment_view", "share_percent",
    "supervisor_day",
]
