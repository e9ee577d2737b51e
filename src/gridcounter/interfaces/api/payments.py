"""Payments over HTTP: POST /payments, GET /accounts/{number}/ledger, reversal and receipt data."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Header, Path, Router, Schema, Status
from ninja.security import django_auth

from gridcounter.application.access import (
    CUSTOMER_SERVICE_ROLES,
    AccessDenied,
    ObjectHidden,
    access_account,
    access_account_by_number,
    require_role,
)
from gridcounter.application.ledger import (
    COUNTER_CHANNELS,
    ChannelNotAtCounter,
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidIdempotencyKey,
    PaymentOutsideCity,
    ReasonRequired,
    ReversalNotAllowed,
    TillClosed,
    UnknownChannel,
    account_arrears,
    balance_fen,
    reverse_payment,
    take_payment,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Role
from gridcounter.data.registry.models import Account
from gridcounter.domain.ledger import format_fen
from gridcounter.interfaces.api.contract import (
    ID_IN_PATH,
    NO_NUL,
    AmountFen,
    Id,
    answers,
    error,
    limit_query,
    text,
)

router = Router(tags=["payments"], auth=django_auth)

PAYMENT_ROLES = (Role.Code.CLERK, Role.Code.SUPERVISOR)
LEDGER_LIMIT = limit_query(default=200, largest=1000)

class PaymentIn(Schema):
    account: str = text(min_length=1, max_length=32, description="account number (户号)")
    amount: AmountFen
    channel: Literal[tuple(Payment.Channel.values)] = Field(
        "CASH", description=f"how the customer pays; at the counter only {', '.join(COUNTER_CHANNELS)}: the others "
                            "arrive through their own import or callback and are refused with 422 "
                            "CHANNEL_NOT_AT_COUNTER")
    idempotency_key: str | None = text(min_length=1, max_length=80, default=None,
                                       description="or the Idempotency-Key header: a retried request books once")
    cash_tendered: AmountFen | None = Field(None, description="cash handed over (收款), CASH only, at least the "
                                                               "amount; kept for the receipt's change (找零)")


class AllocationOut(Schema):
    bill_id: int  # the bill settled, or the bill whose late-payment penalty is settled (kind PENALTY)
    kind: str = "BILL"  # BILL or PENALTY
    period: str
    amount: str
    amount_fen: int
    released: bool = False


class PaymentOut(Schema):
    id: int
    receipt_number: str
    account: str
    amount: str
    amount_fen: int
    channel: str
    hall: str
    clerk: str
    taken_at: datetime
    taken_date: date
    status: str
    replayed: bool = False
    cash_tendered: str | None = None
    change: str | None = None
    allocations: list[AllocationOut]
    balance: str = Field(..., description="after this request; negative is credit")
    balance_fen: int


class ReversalIn(Schema):
    reason: str = text(max_length=2000, blank=False, description="why the payment is taken back (required, not blank)")


class ReversalOut(Schema):
    id: int
    payment_id: int
    receipt_number: str
    amount: str
    reason: str
    supervisor: str = Field(..., description="who reversed it (kept for older clients; see reversed_by)")
    reversed_by: str
    kind: str = Field(..., description="CLERK_SAME_DAY (the clerk's own, same open day) or SUPERVISOR")
    after_close: bool = Field(..., description="the payment's till day was closed: it counts in the reverser's till")
    reversed_at: datetime
    replayed: bool = False
    balance: str
    balance_fen: int


class PostingOut(Schema):
    ledger_account: str
    account: str | None
    amount: str
    amount_fen: int


class EntryOut(Schema):
    id: int
    kind: str
    effective_date: date
    created_at: datetime
    description: str
    reason: str
    reverses: int | None
    postings: list[PostingOut]


class OpenBillOut(Schema):
    bill_id: int
    period: str
    amount: str
    outstanding: str
    outstanding_fen: int
    due_date: date | None
    days_overdue: int = Field(..., description="days past the due date on as_of; 0 when not yet due")


class ChargedPenaltyOut(Schema):
    id: int
    bill_period: str = Field(..., description="the overdue bill the penalty was charged on")
    amount: str
    amount_fen: int
    left: str = Field(..., description="not yet paid")
    left_fen: int
    accrued_to: date = Field(..., description="the day of the payment that cleared the bill")
    working: list[dict[str, Any]]


class LedgerOut(Schema):
    account: str
    balance: str = Field(..., description="positive: the customer owes; negative: credit")
    balance_fen: int
    as_of: date = Field(..., description="the business date of the figures below")
    open_bills: list[OpenBillOut]
    penalty: str = Field(..., description="late-payment penalty (Art. 98) accrued to as_of on the overdue bills, "
                                          "not yet charged (the payment that clears them charges it); 0.00 when "
                                          "nothing is overdue")
    penalty_fen: int
    penalty_working: list[dict[str, Any]] = Field(..., description=(
        "the penalty's working, one step each: step (SEGMENT, CAP, ROUNDED, MINIMUM or NONE), its numbers (dates, "
        "days, remainder, rate, amounts) and the sentence in Chinese and English (text_zh, text_en)"))
    penalty_is_charged: bool = Field(..., description="whether the rules charge the accrued penalty on payment "
                                                      "(rules/penalty.toml [posting]); false: shown only")
    charged_penalties: list[ChargedPenaltyOut] = Field(..., description="penalties charged and not yet paid")
    total_due: str = Field(..., description="paying in full on as_of: the open bills, the charged penalties not "
                                            "yet paid and the accrued penalty (when charged)")
    total_due_fen: int
    entries: list[EntryOut]


class ReceiptOut(Schema):
    receipt_number: str
    status: str
    account: str
    customer: str
    address: str
    amount: str
    amount_fen: int
    channel: str
    channel_label: str
    hall: str
    hall_name: str
    clerk: str
    taken_at: datetime
    taken_date: date
    allocations: list[AllocationOut]
    reversal_reason: str = ""


def _allocations(payment: Payment, allocations=None) -> list[dict]:
    rows = allocations if allocations is not None else payment.allocations.select_related("bill", "penalty__bill")
    return [{"bill_id": a.bill_of, "kind": a.kind, "period": a.period, "amount": format_fen(a.amount_fen),
             "amount_fen": a.amount_fen, "released": a.released_at is not None} for a in rows]


def _payment_out(payment: Payment, *, allocations, replayed: bool, balance: int) -> dict:
    return {
        "id": payment.pk, "receipt_number": payment.receipt_number, "account": payment.account.number,
        "amount": format_fen(payment.amount_fen), "amount_fen": payment.amount_fen, "channel": payment.channel,
        "hall": payment.hall.code, "clerk": payment.clerk.username if payment.clerk_id else "",
        "taken_at": payment.taken_at, "taken_date": payment.taken_date, "status": payment.status,
        "replayed": replayed, "allocations": _allocations(payment, allocations),
        "cash_tendered": None if payment.cash_tendered_fen is None else format_fen(payment.cash_tendered_fen),
        "change": None if payment.change_given_fen is None else format_fen(payment.change_given_fen),
        "balance": format_fen(balance), "balance_fen": balance,
    }


def _visible_payment(user, payment_id: int) -> Payment | None:
    payment = Payment.objects.select_related("account__city", "account__customer", "account__premise", "hall",
                                             "clerk").filter(pk=payment_id).first()
    if payment is None:
        return None
    try:
        access_account(user=user, account=payment.account)
    except ObjectHidden:
        return None
    return payment


@router.post("/payments", response=answers({200: PaymentOut, 201: PaymentOut}, 404, 409, 503),
             summary="Take a payment at the user's hall; any account of the hall's city; a retry books once")
def post_payment(request, payload: PaymentIn,
                 idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=1, max_length=80,
                                                      pattern=NO_NUL)):
    """201 a new payment, 200 the same request again (the key books once). Another city's account is answered as
    an unknown one (404). 422 IDEMPOTENCY_KEY_REQUIRED without a key, IDEMPOTENCY_KEY_MISMATCH when the header and
    the body name two, CHANNEL_NOT_AT_COUNTER for BANK_WITHHOLDING, ONLINE or PREPAY_DEPOSIT (only their own import
    or callback books them). 409 TILL_CLOSED once the clerk has closed the day (日结) at the hall."""
    user = request.user
    try:
        require_role(user, *PAYMENT_ROLES)
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not take payments."))
    if user.hall_id is None:
        return error(403, "NO_HALL", _("Only staff of a service hall may take payments."))
    header_key, body_key = (idempotency_key or "").strip(), (payload.idempotency_key or "").strip()
    if header_key and body_key and header_key != body_key:
        return error(422, "IDEMPOTENCY_KEY_MISMATCH",
                     _("The Idempotency-Key header and the idempotency_key field differ."), "idempotency_key")
    key = header_key or body_key
    if not key:
        return error(422, "IDEMPOTENCY_KEY_REQUIRED",
                     _("Send an Idempotency-Key header (or idempotency_key field) so a retry books once."),
                     "idempotency_key")
    account = Account.objects.select_related("city").filter(number=payload.account).first()
    try:
        if account is None:
            raise ObjectHidden("no such account", rule="NOT_FOUND")
        access_account(user=user, account=account)
    except ObjectHidden:
        return error(404, "ACCOUNT_NOT_FOUND", _("No account %(number)s.") % {"number": payload.account}, "account")
    actor = Actor(user=user, hall=user.hall, reason="payment at the counter", channel="API")
    try:
        with acting_as(actor):
            result = take_payment(account=account, amount_fen=payload.amount, channel=payload.channel,
                                  hall=user.hall, clerk=user, idempotency_key=key, taken_at=timezone.now(),
                                  at_counter=True, cash_tendered_fen=payload.cash_tendered)
    except PaymentOutsideCity as error_:  # only an ADMIN at another city's hall sees the account to get here
        return error(409, "PAYMENT_OUTSIDE_CITY", error_, "account")
    except IdempotencyKeyReused as error_:
        return error(409, "IDEMPOTENCY_KEY_REUSED", error_, "idempotency_key")
    except UnknownChannel:
        return error(422, "UNKNOWN_CHANNEL", _("Unknown payment channel %(channel)s.") % {"channel": payload.channel},
                     "channel")
    except TillClosed as error_:
        return error(409, "TILL_CLOSED", error_)
    except ChannelNotAtCounter as error_:
        return error(422, "CHANNEL_NOT_AT_COUNTER", error_, "channel")
    except InvalidAmount as error_:
        return error(422, "CASH_TENDERED_TOO_LITTLE" if error_.code == InvalidAmount.TOO_LITTLE
                     else "CASH_TENDERED_NOT_CASH", _("Cash tendered must be at least the amount, and only for cash."),
                     "cash_tendered")
    except InvalidIdempotencyKey:
        return error(422, "INVALID_IDEMPOTENCY_KEY", _("The idempotency key must be 1 to 80 characters."),
                     "idempotency_key")
    body = _payment_out(result.payment, allocations=result.allocations, replayed=result.replayed,
                        balance=result.balance_fen)
    return Status(200 if result.replayed else 201, body)


@router.get("/accounts/{number}/ledger", response=answers({200: LedgerOut}, 404),
            summary="An account's journal entries with postings, its balance and its open bills (oldest first)")
def account_ledger(request, number: str = Path(..., min_length=1, max_length=32, pattern=NO_NUL),
                   limit: Id = LEDGER_LIMIT):
    try:
        require_role(request.user, *CUSTOMER_SERVICE_ROLES)
        account = access_account_by_number(user=request.user, number=number)
    except ObjectHidden:
        return error(404, "ACCOUNT_NOT_FOUND", _("No account %(number)s.") % {"number": number}, "number")
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not see this account's ledger."))
    entries = list(account.journal_entries.order_by("-effective_date", "-id").prefetch_related(
        "postings__account")[:limit])
    entries.reverse()
    balance = balance_fen(account)
    arrears = account_arrears(account=account, as_of=timezone.localdate())
    return Status(200, {
        "account": account.number, "balance": format_fen(balance), "balance_fen": balance, "as_of": arrears.as_of,
        "open_bills": [{"bill_id": item.bill.pk, "period": item.bill.period,
                        "amount": format_fen(item.bill.amount_fen), "outstanding": format_fen(item.outstanding_fen),
                        "outstanding_fen": item.outstanding_fen, "due_date": item.bill.due_date,
                        "days_overdue": item.days_overdue} for item in arrears.bills],
        "penalty": format_fen(arrears.penalty_fen), "penalty_fen": arrears.penalty_fen,
        "penalty_working": arrears.penalty.working if arrears.penalty else [],
        "penalty_is_charged": arrears.penalty_is_charged,
        "charged_penalties": [{"id": item.charge.pk, "bill_period": item.charge.bill.period,
                               "amount": format_fen(item.charge.amount_fen), "amount_fen": item.charge.amount_fen,
                               "left": format_fen(item.left_fen), "left_fen": item.left_fen,
                               "accrued_to": item.charge.accrued_to, "working": item.charge.working}
                              for item in arrears.charged],
        "total_due": format_fen(arrears.total_due_fen), "total_due_fen": arrears.total_due_fen,
        "entries": [{"id": e.pk, "kind": e.kind, "effective_date": e.effective_date, "created_at": e.created_at,
                     "description": e.description, "reason": e.reason, "reverses": e.reverses_id,
                     "postings": [{"ledger_account": p.ledger_account,
                                   "account": p.account.number if p.account_id else None,
                                   "amount": format_fen(p.amount_fen), "amount_fen": p.amount_fen}
                                  for p in e.postings.all()]} for e in entries],
    })


REVERSAL_REFUSALS = {  # ReversalNotAllowed.code → HTTP status; the code itself is the answer's code
    "NOT_YOURS": 403, "NOT_TODAY": 403, "OTHER_HALL": 403, "DAY_CLOSED": 409, "OTHER_CITY": 403,
    "SUPERVISOR_REQUIRED": 403,
}


@router.post("/payments/{payment_id}/reversal", response=answers({200: ReversalOut, 201: ReversalOut}, 404, 409, 503),
             summary="Reverse a payment: the clerk's own of the same open day, else a supervisor's; reason required")
def post_reversal(request, payload: ReversalIn, payment_id: Id = ID_IN_PATH):
    """201 reversed, 200 already reversed (the first reversal). The clerk who took the payment may reverse it the
    same business day at their hall while their till day is open; any other reversal is a supervisor's of the
    account's city. Refusals: 403 NOT_YOURS, NOT_TODAY, OTHER_HALL, OTHER_CITY or SUPERVISOR_REQUIRED; 409
    DAY_CLOSED; 422 REASON_REQUIRED. Another city's payment is answered as an unknown one (404)."""
    user = request.user
    try:
        require_role(user, *PAYMENT_ROLES)
    except AccessDenied:
        return error(403, "SUPERVISOR_REQUIRED", _("Only the clerk who took a payment or a supervisor may reverse it."))
    payment = _visible_payment(user, payment_id)
    if payment is None:
        return error(404, "PAYMENT_NOT_FOUND", _("No such payment."))
    actor = Actor(user=user, hall=user.hall, reason=payload.reason.strip(), channel="API")
    try:
        with acting_as(actor):
            result = reverse_payment(payment=payment, by=user, reason=payload.reason, reversed_at=timezone.now())
    except ReversalNotAllowed as error_:
        return error(REVERSAL_REFUSALS.get(error_.code, 403), error_.code, error_)
    except ReasonRequired as error_:
        return error(422, "REASON_REQUIRED", error_, "reason")
    reversal = result.reversal
    return Status(200 if result.replayed else 201, {
        "id": reversal.pk, "payment_id": payment.pk, "receipt_number": payment.receipt_number,
        "amount": format_fen(payment.amount_fen), "reason": reversal.reason,
        "supervisor": reversal.reversed_by.username, "reversed_by": reversal.reversed_by.username,
        "kind": reversal.kind, "after_close": reversal.after_close,
        "reversed_at": reversal.reversed_at, "replayed": result.replayed,
        "balance": format_fen(result.balance_fen), "balance_fen": result.balance_fen,
    })


@router.get("/payments/{payment_id}/receipt", response=answers({200: ReceiptOut}, 404),
            summary="What the printed receipt shows")
def payment_receipt(request, payment_id: Id = ID_IN_PATH):
    try:
        require_role(request.user, *CUSTOMER_SERVICE_ROLES)
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not see receipts."))
    payment = _visible_payment(request.user, payment_id)
    if payment is None:
        return error(404, "PAYMENT_NOT_FOUND", _("No such payment."))
    reversal = getattr(payment, "reversal", None) if payment.status == Payment.Status.REVERSED else None
    account = payment.account
    return Status(200, {
        "receipt_number": payment.receipt_number, "status": payment.status, "account": account.number,
        "customer": account.customer.name, "address": account.premise.address,
        "amount": format_fen(payment.amount_fen), "amount_fen": payment.amount_fen, "channel": payment.channel,
        "channel_label": str(payment.get_channel_display()), "hall": payment.hall.code,
        "hall_name": payment.hall.name, "clerk": (payment.clerk.display_name or payment.clerk.username)
        if payment.clerk_id else "", "taken_at": payment.taken_at, "taken_date": payment.taken_date,
        "allocations": _allocations(payment), "reversal_reason": reversal.reason if reversal else "",
    })
