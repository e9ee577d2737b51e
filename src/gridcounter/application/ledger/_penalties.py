"""Late-payment penalties on the ledger: charged when a payment clears an overdue bill, settled by payments like a
bill, waived by a supervisor with a reason.

The amount is the one rule's (domain.penalty.late_payment_penalty), accrued to the business day of the payment
that cleared the bill, with the bill's earlier part payments reducing the remainder from their day; its working is
kept with the charge as it was computed. A bill is charged once (the charge is unique per bill): a bill reopened
by a reversal and paid again later is not charged a second time. Whether penalties are charged at all is the rules'
posting policy (rules/penalty.toml [posting]); "none" shows the accrued penalty and never posts it.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from gridcounter.application.ledger._ledger import ReasonRequired, business_date, post_entry
from gridcounter.application.ledger._locks import lock_account
from gridcounter.application.ledger._till import may_supervise
from gridcounter.application.penalty import penalty_rules
from gridcounter.data.audit.context import acting_as, current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, Payment, PaymentAllocation, PenaltyCharge
from gridcounter.data.org.models import Role
from gridcounter.data.registry.models import Account
from gridcounter.domain import ledger as rules
from gridcounter.domain.penalty import Arrears, PartPayment, late_payment_penalty


class WaiverRefused(Exception):
    """A waiver that cannot be made: ``code`` NOT_SUPERVISOR, OTHER_CITY, ALREADY_WAIVED, NOTHING_LEFT."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _bill_penalty(*, account: Account, bill: Bill, day) -> tuple[int, list[dict]]:
    """The penalty for paying `bill` in full on `day`, with its working: the bill's earlier payments are parts."""
    parts = [PartPayment(paid_date=business_date(a.allocated_at), amount_fen=a.amount_fen)
             for a in PaymentAllocation.objects.filter(bill=bill, released_at__isnull=True).order_by("allocated_at")
             if business_date(a.allocated_at) < day]
    penalty = late_payment_penalty(
        rules=penalty_rules(), category=account.usage_category, paid_date=day,
        arrears=[Arrears(amount_fen=bill.amount_fen, due_date=bill.due_date, charge_year=int(bill.period[:4]),
                         parts=tuple(parts), label=bill.period)])
    return penalty.penalty_fen, penalty.working


def charge_penalties(*, payment: Payment, cleared: list[Bill], taken_at: datetime) -> list[PenaltyCharge]:
    """Charge the penalty of each bill in `cleared` (just settled in full by `payment`) that was overdue on the
    payment's business day. The caller holds the account's lock inside a transaction."""
    if not cleared or not penalty_rules().posting.charges:
        return []
    day = business_date(taken_at)
    account = payment.account
    charged = set(PenaltyCharge.objects.filter(bill__in=cleared).values_list("bill_id", flat=True))
    made = []
    for bill in cleared:
        if bill.pk in charged or bill.due_date is None or bill.due_date >= day:
            continue
        amount, working = _bill_penalty(account=account, bill=bill, day=day)
        if amount <= 0:
            continue
        entry = post_entry(
            kind=JournalEntry.Kind.PENALTY, account=account, effective_date=day, created_at=taken_at,
            description=f"Late-payment penalty on bill {bill.period}",
            postings=rules.penalty_lines(account=account, amount_fen=amount), source_type="billing.Bill",
            source_id=str(bill.pk), idempotency_key=f"penalty:{bill.pk}")
        charge = PenaltyCharge.objects.create(account=account, bill=bill, amount_fen=amount, accrued_to=day,
                                              working=working, entry=entry, payment=payment, created_at=taken_at)
        record_event(action="PENALTY_CHARGED", obj=charge, occurred_at=taken_at,
                     detail={"account": account.number, "bill_period": bill.period, "amount_fen": amount,
                             "accrued_to": day.isoformat(), "payment": payment.receipt_number})
        made.append(charge)
    return made


def waive_penalty(*, charge: PenaltyCharge, supervisor, reason: str, waived_at: datetime) -> PenaltyCharge:
    """Waive what is left unpaid of a charged penalty: a PENALTY_WAIVER entry for that amount (what was already
    paid stays paid), the charge marked WAIVED with who, when and why; audited.

    Raises: ReasonRequired, WaiverRefused.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(_("A waiver needs a reason."))
    if not may_supervise(supervisor, charge.account.home_hall):
        if supervisor is not None and supervisor.has_role(Role.Code.SUPERVISOR):
            raise WaiverRefused("OTHER_CITY", _("Only a supervisor of {city} may waive this penalty.").format(
                city=charge.account.city.name))
        raise WaiverRefused("NOT_SUPERVISOR", _("Only a supervisor may waive a late-payment penalty."))
    hall = supervisor.hall
    with acting_as(dataclasses.replace(current_actor(), user=supervisor, hall=hall, reason=reason)), \
            transaction.atomic():
        lock_account(charge.account_id)
        locked = PenaltyCharge.objects.select_related("account", "bill").get(pk=charge.pk)
        if locked.status == PenaltyCharge.Status.WAIVED:
            raise WaiverRefused("ALREADY_WAIVED", _("This penalty was already waived."))
        paid = int(locked.allocations.filter(released_at__isnull=True).aggregate(total=Sum("amount_fen"))["total"]
                   or 0)
        left = locked.amount_fen - paid
        if left <= 0:
            raise WaiverRefused("NOTHING_LEFT", _("This penalty is paid; a payment is reversed, not waived."))
        entry = post_entry(
            kind=JournalEntry.Kind.PENALTY_WAIVER, account=locked.account, effective_date=business_date(waived_at),
            created_at=waived_at, description=f"Late-payment penalty on bill {locked.bill.period} waived",
            postings=rules.opposite_lines(rules.penalty_lines(account=locked.account, amount_fen=left)),
            source_type="ledger.PenaltyCharge", source_id=str(locked.pk), idempotency_key=f"penalty-waiver:{locked.pk}",
            reason=reason)
        PenaltyCharge.objects.filter(pk=locked.pk).update(status=PenaltyCharge.Status.WAIVED, waived_by=supervisor,
                                                          waived_at=waived_at, waiver_reason=reason,
                                                          waiver_entry=entry)
        record_event(action="PENALTY_WAIVED", obj=locked, occurred_at=waived_at, reason=reason,
                     detail={"account": locked.account.number, "bill_period": locked.bill.period,
                             "waived_fen": left, "paid_fen": paid})
        locked.refresh_from_db()
    return locked
