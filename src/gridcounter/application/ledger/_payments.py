"""Payment use cases: take a payment at any hall of the account's city (reversal: `_reversals`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from gridcounter.application.ledger._ledger import (
    IdempotencyConflict,
    allocate,
    balance_fen,
    business_date,
    open_bills,
    post_entry,
)
from gridcounter.application.ledger._locks import lock_account, retrying
from gridcounter.application.ledger._penalties import charge_penalties
from gridcounter.application.ledger._till import check_till_open
from gridcounter.data.audit.context import acting_as, current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.ledger.models import JournalEntry, Payment, PaymentAllocation, ReceiptSequence
from gridcounter.data.org.models import Hall
from gridcounter.data.registry.models import Account
from gridcounter.domain import ledger as rules
from gridcounter.domain.ledger import DEFAULT_CONFIRM_MULTIPLE, InvalidAmount, change_fen, needs_confirmation

IDEMPOTENCY_KEY_MAX_LENGTH = 80


@dataclass(frozen=True)
class CounterCash:
    """What the counter tells the clerk before a payment is booked: the change to hand back (cash with an amount
    tendered), and whether the amount is so far above what is owed that the customer must confirm it first."""

    change_fen: int | None
    confirm: bool
    owed_fen: int
    multiple: int


def confirm_multiple() -> int:
    """How many times what is owed a counter payment may be before the clerk confirms it (setting
    GRIDCOUNTER_PAYMENT_CONFIRM_MULTIPLE, default domain.ledger.DEFAULT_CONFIRM_MULTIPLE)."""
    return int(getattr(settings, "GRIDCOUNTER_PAYMENT_CONFIRM_MULTIPLE", DEFAULT_CONFIRM_MULTIPLE))


def counter_cash(*, account: Account, amount_fen: int, channel: str, tendered_fen: int | None) -> CounterCash:
    """The change and the confirmation rule for a payment typed at the counter (`domain.ledger.change_fen`,
    `needs_confirmation`). Raises InvalidAmount (field "tendered") when less cash was tendered than is paid."""
    change = None
    if channel == Payment.Channel.CASH and tendered_fen is not None:
        change = change_fen(amount_fen=amount_fen, tendered_fen=tendered_fen)
    owed, multiple = balance_fen(account), confirm_multiple()
    return CounterCash(change_fen=change, confirm=needs_confirmation(amount_fen=amount_fen, owed_fen=owed,
                                                                     multiple=multiple),
                       owed_fen=max(owed, 0), multiple=multiple)

__all__ = [
    "COUNTER_CHANNELS", "ChannelNotAtCounter", "IdempotencyKeyReused", "InvalidAmount", "InvalidIdempotencyKey", "PaymentOutsideCity", "PaymentResult",
    "UnknownChannel", "next_receipt_number", "take_payment",
]


class PaymentOutsideCity(Exception):
    """同城通办 stops at the city boundary: a hall takes payments only for accounts of its own city."""

    def __init__(self, *, hall: Hall, account: Account):
        self.hall = hall
        self.account = account
        super().__init__(
            _("Hall {hall} (city {hall_city}) cannot take payments for account {account} of city {account_city}").format(
                hall=hall.name, hall_city=hall.city.name, account=account.number, account_city=account.city.name)
        )


class IdempotencyKeyReused(Exception):
    """The idempotency key was already used for a payment with a different account, amount or channel."""

    def __init__(self, *, key: str, payment: Payment):
        self.key = key
        self.payment = payment
        super().__init__(
            _("Idempotency key {key} was already used for payment {receipt} (account {account}, {amount} yuan, "
              "{channel}); use a new key for a new payment").format(
                key=key, receipt=payment.receipt_number, account=payment.account.number,
                amount=rules.format_fen(payment.amount_fen), channel=payment.channel)
        )


class InvalidIdempotencyKey(ValueError):
    """A payment needs an idempotency key of 1 to 80 characters."""


class UnknownChannel(ValueError):
    """The payment channel is not one of CASH, CARD, PREPAY_DEPOSIT, BANK_WITHHOLDING, ONLINE."""


# Money a clerk takes across a counter. Bank withholding and online payments arrive only through their own
# importers and callbacks, never typed by a clerk.
COUNTER_CHANNELS = (Payment.Channel.CASH, Payment.Channel.CARD)


class ChannelNotAtCounter(ValueError):
    """A clerk booked a channel that only its importer or callback may book (BANK_WITHHOLDING, ONLINE…)."""

    def __init__(self, channel: str):
        self.channel = channel
        super().__init__(
            _("{channel} payments arrive only through their own import or callback; at the counter take cash or a "
              "bank card").format(channel=Payment.Channel(channel).label))


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    allocations: list[PaymentAllocation]
    replayed: bool
    balance_fen: int  # after the payment; negative is credit


def next_receipt_number(*, hall: Hall, business_day: date) -> str:
    """``<hall code>-<yyyymmdd>-<seq>``: the hall's next number of the day, under a row lock.

    Inside the caller's transaction, so a rolled-back payment gives its number back (no gaps).
    """
    sequence, _created = ReceiptSequence.objects.get_or_create(hall=hall, business_date=business_day)
    ReceiptSequence.objects.filter(pk=sequence.pk).update(last_number=F("last_number") + 1)
    number = ReceiptSequence.objects.select_for_update().values_list("last_number", flat=True).get(pk=sequence.pk)
    return f"{hall.code}-{business_day:%Y%m%d}-{number:06d}"


def _same_request(payment: Payment, *, account: Account, amount_fen: int, channel: str) -> bool:
    return payment.account_id == account.pk and payment.amount_fen == amount_fen and payment.channel == channel


def _replay(*, key: str, account: Account, amount_fen: int, channel: str) -> PaymentResult | None:
    existing = Payment.objects.select_related("account", "hall").filter(idempotency_key=key).first()
    if existing is None:
        return None
    if not _same_request(existing, account=account, amount_fen=amount_fen, channel=channel):
        raise IdempotencyKeyReused(key=key, payment=existing)
    return PaymentResult(payment=existing, allocations=list(existing.allocations.select_related("bill", "penalty__bill")),
                         replayed=True, balance_fen=balance_fen(existing.account))


@retrying
def take_payment(*, account: Account, amount_fen: int, channel: str, hall: Hall, clerk, idempotency_key: str,
                 taken_at: datetime, at_counter: bool = False, cash_tendered_fen: int | None = None) -> PaymentResult:
    """Book money received at ``hall`` for ``account``: a receipt, a PAYMENT entry, oldest bills settled first.

    Any surplus stays as credit. A retry with the same key returns the first payment (``replayed=True``).
    The account's row is locked for the booking (and nothing else: not its city, hall or route), so concurrent
    payments for one account queue up, the same key never books twice, and a bill run writing the account's bill
    is waited for (its bill is then settled) or has already seen this payment (`_locks`).

    ``at_counter``: a clerk typed it (web counter, API); only COUNTER_CHANNELS are taken, else ChannelNotAtCounter.
    ``cash_tendered_fen``: the cash the customer handed over (收款), kept on the payment for the receipt's change
    (找零); cash only, at least the amount (else InvalidAmount, field "tendered").

    Raises: Contention (after retries), InvalidAmount, UnknownChannel, ChannelNotAtCounter, TillClosed, InvalidIdempotencyKey,
    PaymentOutsideCity, IdempotencyKeyReused.
    """
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise InvalidAmount(field="amount", message="must be greater than zero")
    if channel not in Payment.Channel.values:
        raise UnknownChannel(f"channel {channel!r} is not one of {', '.join(Payment.Channel.values)}")
    if at_counter and channel not in COUNTER_CHANNELS:
        raise ChannelNotAtCounter(channel)
    if cash_tendered_fen is not None:
        if channel != Payment.Channel.CASH:
            raise InvalidAmount(field="tendered", message="cash tendered is kept for cash payments only")
        change_fen(amount_fen=amount_fen, tendered_fen=cash_tendered_fen)
    key = (idempotency_key or "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidIdempotencyKey(f"an idempotency key of 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters is required")
    if hall.city_id != account.city_id:
        raise PaymentOutsideCity(hall=hall, account=account)

    actor = dataclasses.replace(current_actor(), user=clerk, hall=hall)
    with acting_as(actor), transaction.atomic():
        lock_account(account.pk)
        locked = Account.objects.select_related("city").get(pk=account.pk)
        replay = _replay(key=key, account=locked, amount_fen=amount_fen, channel=channel)
        if replay is not None:
            return replay
        day = business_date(taken_at)
        if at_counter:
            check_till_open(clerk=clerk, hall=hall, day=day)
        try:
            with transaction.atomic():
                receipt = next_receipt_number(hall=hall, business_day=day)
                entry = post_entry(
                    kind=JournalEntry.Kind.PAYMENT, account=locked, effective_date=day, created_at=taken_at,
                    description=f"Payment {receipt}",
                    postings=rules.payment_lines(account=locked, amount_fen=amount_fen, channel=channel),
                    source_type="ledger.Payment", source_id=receipt, idempotency_key=f"payment:{key}",
                )
                payment = Payment.objects.create(
                    account=locked, amount_fen=amount_fen, channel=channel, hall=hall, clerk=clerk,
                    receipt_number=receipt, idempotency_key=key, taken_at=taken_at, taken_date=day, entry=entry,
                    cash_tendered_fen=cash_tendered_fen,
                )
        except (IntegrityError, IdempotencyConflict):
            # the same key committed meanwhile for another account (that account's lock did not stop it)
            replay = _replay(key=key, account=locked, amount_fen=amount_fen, channel=channel)
            if replay is not None:
                return replay
            raise
        allocations = allocate(payment=payment, allocated_at=taken_at)
        still_open = {bill.pk for bill, _ in open_bills(locked)}
        cleared = [a.bill for a in allocations if a.bill_id and a.bill_id not in still_open]
        if charge_penalties(payment=payment, cleared=cleared, taken_at=taken_at):
            allocations += allocate(payment=payment, allocated_at=taken_at)  # the rest of it settles the penalty
        balance = balance_fen(locked)
        record_event(
            action="PAYMENT_TAKEN", obj=payment, occurred_at=taken_at,
            detail={"account": locked.number, "amount_fen": amount_fen, "channel": channel, "receipt": receipt,
                    **({"cash_tendered_fen": cash_tendered_fen} if cash_tendered_fen is not None else {}),
                    "allocations": [{"bill_id": a.bill_of, "kind": a.kind, "period": a.period,
                                     "amount_fen": a.amount_fen}
                                    for a in allocations],
                    "balance_fen": balance},
        )
    return PaymentResult(payment=payment, allocations=allocations, replayed=False, balance_fen=balance)
