"""Reversing a payment: who may (the clerk who took it, the same open day at their hall; else a supervisor of the
account's city), with a reason, what it does to the till, and the audit. Web, API and CLI all come here."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridcounter.application.ledger._ledger import (
    ReasonRequired,
    apply_credit,
    balance_fen,
    business_date,
    post_entry,
)
from gridcounter.application.ledger._locks import lock_account, retrying
from gridcounter.application.ledger._till import is_closed, may_supervise
from gridcounter.data.audit.context import acting_as, current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.ledger.models import JournalEntry, Payment, PaymentAllocation, Reversal
from gridcounter.data.org.models import Role
from gridcounter.data.registry.models import Account
from gridcounter.domain import ledger as rules

__all__ = ["REVERSAL_REASONS", "ReversalNotAllowed", "ReversalResult", "reversal_kind", "reverse_payment"]

REASON_MAX_LENGTH = 500

# The reasons a clerk picks from at the confirm step (the text is stored, in the clerk's language); OTHER asks for
# the clerk's own words.
REVERSAL_REASONS = (
    ("WRONG_ACCOUNT", gettext_lazy("Wrong account")),
    ("WRONG_AMOUNT", gettext_lazy("Wrong amount")),
    ("WRONG_METHOD", gettext_lazy("Wrong payment method")),
    ("CHANGED_MIND", gettext_lazy("Customer changed their mind")),
    ("OTHER", gettext_lazy("Other (say why)")),
)


class ReversalNotAllowed(Exception):
    """The user may not reverse this payment; ``code`` says why:

    NOT_YOURS (another clerk took it), NOT_TODAY (an earlier business date), OTHER_HALL (taken at another hall),
    DAY_CLOSED (the till day is closed), OTHER_CITY (a supervisor of another city), SUPERVISOR_REQUIRED (neither
    a clerk nor a supervisor)."""

    NOT_YOURS = "NOT_YOURS"
    NOT_TODAY = "NOT_TODAY"
    OTHER_HALL = "OTHER_HALL"
    DAY_CLOSED = "DAY_CLOSED"
    OTHER_CITY = "OTHER_CITY"
    SUPERVISOR_REQUIRED = "SUPERVISOR_REQUIRED"

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReversalResult:
    reversal: Reversal
    replayed: bool
    balance_fen: int


def _refuse(code: str, message: str) -> ReversalNotAllowed:
    return ReversalNotAllowed(message, code=code)


def reversal_kind(*, payment: Payment, user, day: date) -> str:
    """Which reversal ``user`` may make of ``payment`` on business date ``day``: Reversal.Kind.CLERK_SAME_DAY (the
    clerk who took it, the same day, at their hall, the till day still open) or Reversal.Kind.SUPERVISOR (a
    supervisor of the account's city, or an ADMIN: any payment, any day).

    A reversal made after the payment's till day was closed counts in the reverser's till of ``day``, so that
    till must be open too (`docs/till.md`).

    Raises ReversalNotAllowed (``code`` names why)."""
    receipt = payment.receipt_number
    if user is None or not user.is_active:
        raise _refuse(ReversalNotAllowed.SUPERVISOR_REQUIRED,
                      _("You cannot reverse payment {receipt}: sign in as a clerk or supervisor.").format(receipt=receipt))
    payment_day_closed = payment.clerk_id is not None and is_closed(
        clerk=payment.clerk, hall=payment.hall, day=payment.taken_date)
    if may_supervise(user, payment.hall):  # the hall's city is the account's (同城通办 stops at the city)
        if payment_day_closed and user.hall_id is not None and is_closed(clerk=user, hall=user.hall, day=day):
            raise _refuse(ReversalNotAllowed.DAY_CLOSED, _(
                "You cannot reverse payment {receipt}: it belongs to a closed day, and the reversal would count in your "
                "own till of {day}, which is closed too.").format(receipt=receipt, day=day.isoformat()))
        return Reversal.Kind.SUPERVISOR
    if user.has_role(Role.Code.SUPERVISOR):
        raise _refuse(ReversalNotAllowed.OTHER_CITY, _(
            "You cannot reverse payment {receipt}: only a supervisor of {city} may reverse it.").format(
            receipt=receipt, city=payment.account.city.name))
    if not user.has_role(Role.Code.CLERK):
        raise _refuse(ReversalNotAllowed.SUPERVISOR_REQUIRED, _(
            "You cannot reverse payment {receipt}: only the clerk who took it (the same day) or a supervisor may reverse "
            "it.").format(receipt=receipt))
    if payment.clerk_id != user.pk:
        raise _refuse(ReversalNotAllowed.NOT_YOURS, _(
            "You cannot reverse payment {receipt}: another clerk took it. A supervisor must reverse it, with a reason."
        ).format(receipt=receipt))
    if payment.taken_date != day:
        raise _refuse(ReversalNotAllowed.NOT_TODAY, _(
            "You cannot reverse payment {receipt}: it was taken on {taken}, not today. A supervisor must reverse it, with "
            "a reason.").format(receipt=receipt, taken=payment.taken_date.isoformat()))
    if payment.hall_id != user.hall_id:
        raise _refuse(ReversalNotAllowed.OTHER_HALL, _(
            "You cannot reverse payment {receipt}: it was taken at {hall}, not at your hall. A supervisor must reverse it."
        ).format(receipt=receipt, hall=payment.hall.name))
    if payment_day_closed:
        raise _refuse(ReversalNotAllowed.DAY_CLOSED, _(
            "You cannot reverse payment {receipt}: your day {day} is closed. A supervisor must reverse it, with a reason; "
            "the closed day stays as it was.").format(receipt=receipt, day=day.isoformat()))
    return Reversal.Kind.CLERK_SAME_DAY


@retrying
def reverse_payment(*, payment: Payment, by, reason: str, reversed_at: datetime) -> ReversalResult:
    """Take a payment back: a REVERSAL entry opposite to the payment's, its bill settlements released.

    ``by`` is the clerk who took it (the same open day, `reversal_kind`) or a supervisor of the account's city;
    either gives a reason. Released money of other payments' credit then settles the reopened bills. Reversing
    twice returns the first reversal (``replayed=True``): the same person's replay at once, anyone else's once the
    rules let them reverse it. A payment whose till day was already closed
    leaves that close as it was: the reversal is marked ``after_close`` and counts in the reverser's till of the
    day it is made (`_till.till_sheet`). Audited (PAYMENT_REVERSED: who, hall, reason, kind).

    Raises: ReversalNotAllowed, ReasonRequired.
    """
    day = business_date(reversed_at)
    existing = Reversal.objects.filter(payment_id=payment.pk, reversed_by=by).select_related("payment__account").first()
    if existing is not None:  # the same person's replay answers the first, whatever the day is now
        return ReversalResult(reversal=existing, replayed=True, balance_fen=balance_fen(existing.payment.account))
    kind = reversal_kind(payment=payment, user=by, day=day)
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(_("Payment {receipt} not reversed. Reason: say why the payment is taken back.").format(
            receipt=payment.receipt_number))
    reason = reason[:REASON_MAX_LENGTH]
    actor = dataclasses.replace(current_actor(), user=by, hall=by.hall, reason=reason)
    with acting_as(actor), transaction.atomic():
        lock_account(payment.account_id)  # the lock order: account, then payment (`_locks`)
        account = Account.objects.get(pk=payment.account_id)
        payment = Payment.objects.select_for_update(of=("self",)).select_related("clerk", "hall").get(pk=payment.pk)
        existing = Reversal.objects.filter(payment=payment).first()
        if existing is not None:
            return ReversalResult(reversal=existing, replayed=True, balance_fen=balance_fen(account))
        # asked again under the lock: a close committed meanwhile turns this into a post-close reversal
        kind = reversal_kind(payment=payment, user=by, day=day)
        after_close = payment.clerk_id is not None and is_closed(clerk=payment.clerk, hall=payment.hall,
                                                                 day=payment.taken_date)
        original = payment.entry
        lines = [(p.ledger_account, p.account, p.amount_fen) for p in original.postings.all()]
        entry = post_entry(
            kind=JournalEntry.Kind.REVERSAL, account=account, effective_date=day,
            created_at=reversed_at, description=f"Reversal of payment {payment.receipt_number}",
            postings=rules.opposite_lines(lines), source_type="ledger.Payment", source_id=payment.receipt_number,
            idempotency_key=f"reversal:{payment.pk}", reason=reason, reverses=original,
        )
        reversal = Reversal.objects.create(payment=payment, entry=entry, reversed_by=by, kind=kind, hall=by.hall,
                                           reason=reason, reversed_at=reversed_at, reversed_date=day,
                                           after_close=after_close)
        released = 0
        for allocation in payment.allocations.select_for_update().filter(released_at__isnull=True):
            allocation.released_at = reversed_at
            allocation.release_reason = PaymentAllocation.Release.PAYMENT_REVERSED
            allocation.save(update_fields=["released_at", "release_reason"])
            released += allocation.amount_fen
        payment.status = Payment.Status.REVERSED
        payment.save(update_fields=["status"])
        apply_credit(account=account, created_at=reversed_at)
        balance = balance_fen(account)
        record_event(
            action="PAYMENT_REVERSED", obj=payment, occurred_at=reversed_at, reason=reason,
            detail={"account": account.number, "amount_fen": payment.amount_fen, "channel": payment.channel,
                    "receipt": payment.receipt_number, "kind": kind,
                    "clerk_own_same_day": kind == Reversal.Kind.CLERK_SAME_DAY,
                    "reversed_by": by.username, "hall": by.hall.code if by.hall_id else "",
                    "taken_by": payment.clerk.username if payment.clerk_id else "",
                    "taken_date": payment.taken_date.isoformat(), "reversed_date": day.isoformat(),
                    "after_close": after_close, "released_fen": released, "balance_fen": balance},
        )
    return ReversalResult(reversal=reversal, replayed=False, balance_fen=balance)
