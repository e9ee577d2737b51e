"""What the counter shows of bills: a bill as printed for the customer, the sentence of a reason in a language,
and an account's monthly usage from its bills and readings. Queries only: nothing is written."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from gridcounter.data.billing.models import Bill
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account
from gridcounter.domain.billing.periods import MeterSpan, period_of, span_use


def reason_text(reason: dict, *, language: str) -> str:
    """The explanation sentence in the request's language (Chinese for zh-*, English otherwise)."""
    if language.lower().startswith("zh"):
        return reason.get("text_zh") or reason.get("text_en") or reason.get("code", "")
    return reason.get("text_en") or reason.get("text_zh") or reason.get("code", "")


def monthly_kwh_from_bills(account: Account) -> tuple[dict[str, Decimal], set[str]]:
    kwh: dict[str, Decimal] = {}
    estimated: set[str] = set()
    # A held bill's usage is still in doubt (a mistyped reading can be 100 times too high): its month is drawn
    # from accepted readings, if any, until the bill is released or corrected.
    live = Bill.objects.filter(account=account).exclude(status__in=[Bill.Status.CANCELLED, Bill.Status.HELD])
    for period, bill_kwh, is_estimate in live.order_by("period", "id").values_list("period", "kwh", "is_estimate"):
        kwh[period] = bill_kwh
        if is_estimate:
            estimated.add(period)
    return kwh, estimated


# A time-of-use meter without a total register: its active energy is the sum of these.
TOU_ACTIVE = (Reading.Register.PEAK, Reading.Register.FLAT, Reading.Register.VALLEY)


def monthly_kwh_from_readings(account: Account) -> tuple[dict[str, Decimal], set[str]]:
    """Consumption between consecutive accepted readings of each meter and register, in the month of the later one.

    The TOTAL register when the account has one; a time-of-use meter without it counts peak + flat + valley.
    """
    kwh: dict[str, Decimal] = defaultdict(Decimal)
    estimated: set[str] = set()
    accepted = Reading.objects.filter(account=account, status=Reading.Status.ACCEPTED)
    registers = [Reading.Register.TOTAL]
    if not accepted.filter(register=Reading.Register.TOTAL).exists():
        registers = list(TOU_ACTIVE)
    readings = (
        accepted.filter(register__in=registers)
        .select_related("meter")
        .order_by("meter_id", "register", "read_at", "id")
    )
    previous: Reading | None = None
    for reading in readings:
        if previous is not None and previous.meter_id == reading.meter_id and previous.register == reading.register:
            use = span_use(MeterSpan(start_value=previous.value, end_value=reading.value,
                                     digits=reading.meter.digits, multiplier=reading.meter.multiplier))
            period = period_of(reading.read_date)
            kwh[period] += use.kwh
            if reading.is_estimate or previous.is_estimate:
                estimated.add(period)
        previous = reading
    return dict(kwh), estimated


# --- a bill as printed ----------------------------------------------------------------------------------------


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
    kwh_by_period: dict[str, Decimal]  # the usage history to draw: bills, and readings where no bill is live
    estimated_periods: set[str]
    read_periods: set[str]  # periods whose kWh come from readings
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
    account = bill.account
    return BillPrint(
        bill=bill, company=account.city.company.name, hall=hall.name if hall else "",
        home_hall=account.home_hall.name, last_day=bill.end_date - timedelta(days=1),
        days=(bill.end_date - bill.start_date).days, readings=_readings_used(bill), lines=lines,
        reasons=[{"code": r.get("code", ""), "text": reason_text(r, language=language)}
                 for r in (bill.explanation or [])],
        kwh_by_period=kwh, estimated_periods=estimated, read_periods=from_readings,
        lines_total_fen=sum(line.amount_fen for line in lines),
    )
