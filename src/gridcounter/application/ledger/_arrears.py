"""What an account owes on a day: each open bill with its due date and days overdue, the late-payment penalty
accrued to that day with its working (domain.penalty, the one rule), the penalties already charged and not yet
paid, and the total due.

A read model for the customer screen and the API; it posts nothing. The accrued penalty is what paying the overdue
bills in full that day would add: the payment that clears them charges it (`_penalties`), unless the rules' posting
policy is "none".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gridcounter.application.penalty import penalty_rules
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import PaymentAllocation, PenaltyCharge
from gridcounter.data.registry.models import Account
from gridcounter.domain.business_time import business_date
from gridcounter.domain.penalty import Arrears, PartPayment, Penalty, late_payment_penalty

from ._ledger import open_bills, open_penalties


@dataclass(frozen=True)
class OpenBill:
    bill: Bill
    outstanding_fen: int
    days_overdue: int  # 0 when not yet past its due date (or it has none)

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0


@dataclass(frozen=True)
class ChargedPenalty:
    charge: PenaltyCharge
    left_fen: int  # not yet paid


@dataclass(frozen=True)
class AccountArrears:
    as_of: date
    bills: list[OpenBill]  # every open issued bill, oldest first
    outstanding_fen: int  # what the open bills still ask
    overdue_fen: int  # the part of it past its due date
    penalty: Penalty | None  # accrued to `as_of` on the overdue bills; None when nothing is overdue
    charged: list[ChargedPenalty] = ()  # penalties charged on the ledger and not yet paid, oldest first
    penalty_is_charged: bool = True  # the rules' posting policy: the payment that clears the bills charges it

    @property
    def penalty_fen(self) -> int:
        return self.penalty.penalty_fen if self.penalty else 0

    @property
    def charged_fen(self) -> int:
        return sum(item.left_fen for item in self.charged)

    @property
    def total_due_fen(self) -> int:
        """Paying in full on `as_of`: the open bills, the penalties charged and not paid, and the penalty accrued
        (when the rules charge it)."""
        return self.outstanding_fen + self.charged_fen + (self.penalty_fen if self.penalty_is_charged else 0)


def account_arrears(*, account: Account, as_of: date) -> AccountArrears:
    """The account's open bills and the penalty for paying them in full on the business date `as_of`."""
    open_ = open_bills(account)
    bills = [OpenBill(bill=bill, outstanding_fen=outstanding,
                      days_overdue=max(0, (as_of - bill.due_date).days) if bill.due_date else 0)
             for bill, outstanding in open_]
    overdue = [item for item in bills if item.overdue]
    penalty = None
    if overdue:
        parts: dict[int, list[PartPayment]] = {}
        for allocation in PaymentAllocation.objects.filter(bill__in=[item.bill for item in overdue],
                                                           released_at__isnull=True).order_by("allocated_at", "id"):
            paid = business_date(allocation.allocated_at)
            if paid <= as_of:
                parts.setdefault(allocation.bill_id, []).append(PartPayment(paid_date=paid,
                                                                            amount_fen=allocation.amount_fen))
        arrears = [Arrears(amount_fen=item.bill.amount_fen, due_date=item.bill.due_date,
                           charge_year=int(item.bill.period[:4]), parts=tuple(parts.get(item.bill.pk, ())),
                           label=item.bill.period)
                   for item in overdue]
        penalty = late_payment_penalty(rules=penalty_rules(), category=account.usage_category, arrears=arrears,
                                       paid_date=as_of)
    charged = [ChargedPenalty(charge=charge, left_fen=left) for charge, left in open_penalties(account)]
    return AccountArrears(as_of=as_of, bills=bills, outstanding_fen=sum(item.outstanding_fen for item in bills),
                          overdue_fen=sum(item.outstanding_fen for item in overdue), penalty=penalty, charged=charged,
                          penalty_is_charged=penalty_rules().posting.charges)
