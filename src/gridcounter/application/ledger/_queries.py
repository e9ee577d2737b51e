"""What the counter shows of money, read from the ledger: a payment's receipt, and a day's takings per hall,
clerk and channel with the backlog that awaits a decision. Queries only: nothing is written."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import LedgerAccount, Payment, PaymentAllocation, Posting
from gridcounter.data.org.models import StaffUser
from gridcounter.data.readings.models import Reading, ReviewItem
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.money_words import fen_in_capitals

NON_CASH = (Payment.Channel.CARD, Payment.Channel.PREPAY_DEPOSIT, Payment.Channel.BANK_WITHHOLDING,
            Payment.Channel.ONLINE)


# --- receipts -----------------------------------------------------------------------------------------------


@dataclass
class PaidOff:
    period: str
    bill_amount_fen: int
    amount_fen: int
    released: bool  # given back since (payment reversed, bill cancelled)
    still_owed_fen: int = 0  # what was left of the bill right after this payment
    is_penalty: bool = False  # the late-payment penalty charged on the bill of `period`, not the bill

    @property
    def settled(self) -> bool:
        return self.still_owed_fen <= 0


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

    @property
    def still_owed_fen(self) -> int:
        """What the customer still owed right after this payment (0 when in credit)."""
        return max(self.balance_after_fen, 0)


def _paid_by(bill_id: int, *, at: datetime) -> int:
    """What had been paid of a bill at ``at``: its allocations made by then and not released by then."""
    held = (PaymentAllocation.objects.filter(bill_id=bill_id, allocated_at__lte=at)
            .exclude(released_at__lte=at).aggregate(total=Sum("amount_fen"))["total"])
    return int(held or 0)


def _penalty_paid_by(penalty_id: int, *, at: datetime) -> int:
    held = (PaymentAllocation.objects.filter(penalty_id=penalty_id, allocated_at__lte=at)
            .exclude(released_at__lte=at).aggregate(total=Sum("amount_fen"))["total"])
    return int(held or 0)


def _paid_off(a: PaymentAllocation, *, at: datetime) -> PaidOff:
    if a.penalty_id:
        return PaidOff(period=a.penalty.bill.period, bill_amount_fen=a.penalty.amount_fen, amount_fen=a.amount_fen,
                       released=a.released_at is not None, is_penalty=True,
                       still_owed_fen=a.penalty.amount_fen - _penalty_paid_by(a.penalty_id, at=at))
    return PaidOff(period=a.bill.period, bill_amount_fen=a.bill.amount_fen, amount_fen=a.amount_fen,
                   released=a.released_at is not None, still_owed_fen=a.bill.amount_fen - _paid_by(a.bill_id, at=at))


def receipt_for(payment: Payment) -> Receipt:
    """What the receipt says: the bills this payment settled when it was taken and the balance right after."""
    allocations = list(payment.allocations.select_related("bill", "penalty__bill").filter(
        allocated_at=payment.taken_at).order_by("id"))
    paid_off = [_paid_off(a, at=payment.taken_at) for a in allocations]
    balance = Posting.objects.filter(account_id=payment.account_id, ledger_account=LedgerAccount.RECEIVABLE,
                                     entry_id__lte=payment.entry_id).aggregate(total=Sum("amount_fen"))["total"]
    return Receipt(
        payment=payment, taken_local=timezone.localtime(payment.taken_at, BUSINESS_TZ),
        amount_words=fen_in_capitals(payment.amount_fen), paid_off=paid_off,
        balance_after_fen=int(balance or 0),
        credit_fen=payment.amount_fen - sum(p.amount_fen for p in paid_off),
    )


# --- a day at the counters ------------------------------------------------------------------------------------


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
