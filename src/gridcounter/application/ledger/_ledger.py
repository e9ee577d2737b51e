"""Ledger use cases: post bills, cancellations and adjustments; balances, open bills, credit; the ledger check."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext as _

from gridcounter.application.bulk import insert_rows
from gridcounter.application.ledger._locks import lock_account, lock_accounts, retrying
from gridcounter.data.audit.context import current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger import chain, guard
from gridcounter.data.ledger.models import (
    EntrySeal,
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
    PenaltyCharge,
    Posting,
)
from gridcounter.data.registry.models import Account
from gridcounter.domain import ledger as rules
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.ledger import UnbalancedEntry

__all__ = [
    "BillNotIssued", "BillNotPosted", "IdempotencyConflict", "InvalidPosting", "LedgerCheckReport", "Offence",
    "ReasonRequired", "UnbalancedEntry", "accounts_with_credit", "seal_entries", "seal_written", "apply_credit", "apply_credits", "balance_fen", "business_date", "cancel_bill",
    "chain_heads", "check_ledger", "open_bills", "post_adjustment", "post_bill", "post_bills", "post_entry", "post_rebill_difference",
]


class IdempotencyConflict(Exception):
    """An idempotency key was used before for a different journal entry."""


class InvalidPosting(ValueError):
    """A posting names an unknown ledger account, or a receivable posting has no customer account."""


class BillNotIssued(Exception):
    """Only an issued bill is posted to the ledger (held and cancelled bills are not)."""


class BillNotPosted(Exception):
    """A bill that never reached the ledger cannot be cancelled or replaced in it."""


class ReasonRequired(ValueError):
    """A cancellation, adjustment or reversal needs a reason."""


def business_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware timestamp."""
    return moment.astimezone(BUSINESS_TZ).date()


# --- posting ----------------------------------------------------------------------------------------------

def seal_entries(entry_ids) -> int:
    """Append new entries to their accounts' hash chains (`data.ledger.chain`); every writer of journal entries
    calls this (or `seal_written`) in the writing transaction, with the accounts locked, after the entries'
    postings are written. Reads them back as stored. Returns how many were sealed."""
    ids = chain.unsealed(EntrySeal, sorted(set(entry_ids)))
    sealed = 0
    for start in range(0, len(ids), chain.CHUNK):
        entries, postings = chain.read_entries(JournalEntry, Posting, ids[start:start + chain.CHUNK])
        sealed += seal_written(entries, postings)
    return sealed


def seal_written(entries: list[dict], postings: dict[int, list]) -> int:
    """Seal entries just written, given as they were written (each a mapping of chain.SEALED_FIELDS, in ascending
    id per account; `postings` by entry id as (ledger account, customer account id, fen)), without reading them
    back: the bill run's batches. `ledger-check` reads them back and recomputes every link."""
    if not entries:
        return 0
    made = chain.links(entries, postings, heads=chain.heads_of(EntrySeal, {e["account_id"] for e in entries}),
                       key=guard.chain_key())
    insert_rows(EntrySeal, [{"entry_id": e, "account_id": a, "seq": q, "digest": d} for e, a, q, d in made])
    return len(made)


def _signature(*, kind, account_id, postings) -> tuple:
    return kind, account_id, Counter((ledger_account, getattr(acc, "pk", acc), amount)
                                     for ledger_account, acc, amount in postings)


def _entry_signature(entry: JournalEntry) -> tuple:
    return entry.kind, entry.account_id, Counter(
        (p.ledger_account, p.account_id, p.amount_fen) for p in entry.postings.all()
    )


def _replay_or_conflict(*, key: str, wanted: tuple) -> JournalEntry:
    existing = JournalEntry.objects.get(idempotency_key=key)
    if _entry_signature(existing) != wanted:
        raise IdempotencyConflict(f"idempotency key {key!r} was already used for a different entry (#{existing.pk})")
    return existing


def post_entry(*, kind: str, account: Account, effective_date: date, created_at: datetime, description: str,
               postings: list[tuple[str, Account | None, int]], source_type: str = "", source_id: str = "",
               idempotency_key: str | None = None, reason: str = "", reverses: JournalEntry | None = None,
               ) -> JournalEntry:
    """Write one balanced journal entry with its postings, stamped with the current actor, and audit it.

    With an ``idempotency_key`` used before, returns the earlier entry when it is the same (kind, account,
    postings), otherwise refuses.

    Raises: UnbalancedEntry, InvalidPosting, IdempotencyConflict.
    """
    rules.check_balanced(postings)
    valid_codes = set(LedgerAccount.values)
    for ledger_account, acc, _amount in postings:
        if ledger_account not in valid_codes:
            raise InvalidPosting(f"unknown ledger account {ledger_account!r}")
        if ledger_account == LedgerAccount.RECEIVABLE and acc is None:
            raise InvalidPosting("a receivable posting must name the customer account")
        if ledger_account != LedgerAccount.RECEIVABLE and acc is not None:
            raise InvalidPosting(f"only receivable postings carry a customer account, not {ledger_account}")
    if kind not in JournalEntry.Kind.values:
        raise InvalidPosting(f"unknown entry kind {kind!r}")
    wanted = _signature(kind=kind, account_id=account.pk, postings=postings)
    actor = current_actor()
    with transaction.atomic():
        lock_account(account.pk)
        if idempotency_key and JournalEntry.objects.filter(idempotency_key=idempotency_key).exists():
            return _replay_or_conflict(key=idempotency_key, wanted=wanted)
        try:
            with transaction.atomic():
                entry = JournalEntry.objects.create(
                    kind=kind, account=account, effective_date=effective_date, created_at=created_at,
                    description=description[:300], source_type=source_type, source_id=str(source_id),
                    reverses=reverses, idempotency_key=idempotency_key or None, created_by=actor.user,
                    hall=actor.hall, reason=reason or actor.reason,
                )
                Posting.objects.bulk_create(
                    [Posting(entry=entry, ledger_account=ledger_account, account=acc, amount_fen=amount)
                     for ledger_account, acc, amount in postings]
                )
                seal_entries([entry.pk])
        except IntegrityError:
            # a concurrent request with the same key committed first
            if idempotency_key and JournalEntry.objects.filter(idempotency_key=idempotency_key).exists():
                return _replay_or_conflict(key=idempotency_key, wanted=wanted)
            raise
        record_event(
            action="LEDGER_ENTRY_POSTED", obj=entry, occurred_at=created_at, reason=reason or None,
            detail={"kind": kind, "account": account.number, "effective_date": effective_date.isoformat(),
                    "postings": [[la, getattr(acc, "number", None), amt] for la, acc, amt in postings],
                    "source": f"{source_type}:{source_id}" if source_type else ""},
        )
    return entry


def _bill_entry(bill: Bill) -> JournalEntry | None:
    return JournalEntry.objects.filter(idempotency_key=f"bill:{bill.pk}").first()


def post_bill(*, bill: Bill, created_at: datetime) -> JournalEntry:
    """Post an issued bill: debit the customer's receivable, credit energy revenue. A bill posts once.

    Raises: BillNotIssued, IdempotencyConflict (the bill's amount changed since it was posted).
    """
    if bill.status != Bill.Status.ISSUED:
        raise BillNotIssued(f"bill {bill.pk} ({bill.account} {bill.period}) is {bill.status}, not ISSUED")
    return post_entry(
        kind=JournalEntry.Kind.BILL, account=bill.account,
        effective_date=bill.issued_date or business_date(created_at), created_at=created_at,
        description=f"Bill {bill.period}", postings=rules.bill_lines(account=bill.account, amount_fen=bill.amount_fen),
        source_type="billing.Bill", source_id=str(bill.pk), idempotency_key=f"bill:{bill.pk}",
    )


def _release_bill_allocations(*, released_at: datetime, **target) -> int:
    """Release the live allocations to a cancelled bill (`bill=`) or its dropped penalty (`penalty=`): the money
    becomes credit again. Returns the fen released."""
    released = 0
    for allocation in PaymentAllocation.objects.select_for_update().filter(released_at__isnull=True, **target):
        allocation.released_at = released_at
        allocation.release_reason = PaymentAllocation.Release.BILL_CANCELLED
        allocation.save(update_fields=["released_at", "release_reason"])
        released += allocation.amount_fen
    return released


def _drop_bill_penalty(*, bill: Bill, created_at: datetime, reason: str) -> None:
    """A bill cancelled or replaced takes its late-payment penalty with it: the payments on the penalty are released
    (they become credit) and the whole charge is waived by a PENALTY_WAIVER entry. A replacement bill paid late
    is charged on its own terms."""
    charge = PenaltyCharge.objects.select_for_update().filter(bill=bill, status=PenaltyCharge.Status.POSTED).first()
    if charge is None:
        return
    released = _release_bill_allocations(penalty=charge, released_at=created_at)
    entry = post_entry(
        kind=JournalEntry.Kind.PENALTY_WAIVER, account=bill.account, effective_date=business_date(created_at),
        created_at=created_at, description=f"Late-payment penalty on bill {bill.period} dropped with the bill",
        postings=rules.opposite_lines(rules.penalty_lines(account=bill.account, amount_fen=charge.amount_fen)),
        source_type="ledger.PenaltyCharge", source_id=str(charge.pk), idempotency_key=f"penalty-waiver:{charge.pk}",
        reason=reason)
    actor = current_actor()
    PenaltyCharge.objects.filter(pk=charge.pk).update(status=PenaltyCharge.Status.WAIVED, waived_at=created_at,
                                                      waived_by=actor.user, waiver_entry=entry,
                                                      waiver_reason=f"bill {bill.period} cancelled: {reason}")
    record_event(action="PENALTY_WAIVED", obj=charge, occurred_at=created_at, reason=reason,
                 detail={"account": bill.account.number, "bill_period": bill.period, "waived_fen": charge.amount_fen,
                         "released_fen": released, "with_the_bill": True})


def cancel_bill(*, bill: Bill, created_at: datetime, reason: str) -> JournalEntry:
    """Post the opposite of a bill's entry and release what payments had settled on it (it becomes credit).

    Does not change the bill's status; the caller (bill run) does. Call ``apply_credit`` afterwards (or
    after posting the replacement bill) so released money settles other bills.

    Raises: ReasonRequired, BillNotPosted, IdempotencyConflict.
    """
    if not reason or not reason.strip():
        raise ReasonRequired(_("A bill cancellation needs a reason."))
    with transaction.atomic():
        lock_account(bill.account_id)
        original = _bill_entry(bill)
        if original is None:
            raise BillNotPosted(f"bill {bill.pk} ({bill.account} {bill.period}) was never posted to the ledger")
        lines = [(p.ledger_account, p.account, p.amount_fen) for p in original.postings.all()]
        entry = post_entry(
            kind=JournalEntry.Kind.BILL_CANCELLATION, account=bill.account, effective_date=business_date(created_at),
            created_at=created_at, description=f"Cancellation of bill {bill.period}",
            postings=rules.opposite_lines(lines), source_type="billing.Bill", source_id=str(bill.pk),
            idempotency_key=f"bill-cancel:{bill.pk}", reason=reason, reverses=original,
        )
        released = _release_bill_allocations(bill=bill, released_at=created_at)
        _drop_bill_penalty(bill=bill, created_at=created_at, reason=reason)
        if released:
            record_event(action="ALLOCATIONS_RELEASED", obj=bill, occurred_at=created_at, reason=reason,
                         detail={"account": bill.account.number, "released_fen": released})
    return entry


def post_rebill_difference(*, old_bill: Bill, new_bill: Bill, created_at: datetime, reason: str) -> JournalEntry:
    """Rebilling by difference: post new − old as a CORRECTION and move settlement from the old bill.

    Allocations on ``old_bill`` are released (call ``apply_credit`` afterwards). ``new_bill`` is not
    posted on its own: its amount reaches the ledger as old bill + this difference.

    Raises: ReasonRequired, BillNotPosted, IdempotencyConflict.
    """
    if not reason or not reason.strip():
        raise ReasonRequired(_("A rebilling difference needs a reason."))
    if old_bill.account_id != new_bill.account_id:
        raise InvalidPosting("a rebill replaces a bill of the same account")
    difference = new_bill.amount_fen - old_bill.amount_fen
    with transaction.atomic():
        lock_account(old_bill.account_id)
        if _bill_entry(old_bill) is None:
            raise BillNotPosted(f"bill {old_bill.pk} ({old_bill.account} {old_bill.period}) was never posted")
        entry = post_entry(
            kind=JournalEntry.Kind.CORRECTION, account=new_bill.account, effective_date=business_date(created_at),
            created_at=created_at, description=f"Rebilling difference {new_bill.period}",
            postings=rules.bill_lines(account=new_bill.account, amount_fen=difference),
            source_type="billing.Bill", source_id=str(new_bill.pk),
            idempotency_key=f"rebill:{old_bill.pk}:{new_bill.pk}", reason=reason,
        )
        _release_bill_allocations(bill=old_bill, released_at=created_at)
        _drop_bill_penalty(bill=old_bill, created_at=created_at, reason=reason)
    return entry


@retrying
def post_adjustment(*, account: Account, amount_fen: int, effective_date: date, created_at: datetime,
                    description: str, reason: str, source_type: str = "", source_id: str = "",
                    idempotency_key: str | None = None) -> JournalEntry:
    """Charge (positive) or credit (negative) an account outside a bill, e.g. a meter-error correction.

    Raises: ReasonRequired, UnbalancedEntry (zero amount is refused as an empty adjustment), IdempotencyConflict.
    """
    if not reason or not reason.strip():
        raise ReasonRequired(_("An adjustment needs a reason."))
    if amount_fen == 0:
        raise UnbalancedEntry("an adjustment of zero fen changes nothing")
    return post_entry(
        kind=JournalEntry.Kind.ADJUSTMENT, account=account, effective_date=effective_date, created_at=created_at,
        description=description, postings=rules.adjustment_lines(account=account, amount_fen=amount_fen),
        source_type=source_type, source_id=source_id, idempotency_key=idempotency_key, reason=reason,
    )


# --- balances and open bills ------------------------------------------------------------------------------

def balance_fen(account: Account) -> int:
    """What the account owes (positive) or holds in credit (negative): the sum of its receivable postings."""
    total = Posting.objects.filter(account=account, ledger_account=LedgerAccount.RECEIVABLE).aggregate(
        total=Sum("amount_fen"))["total"]
    return int(total or 0)


def open_bills(account: Account) -> list[tuple[Bill, int]]:
    """Issued bills not yet settled, oldest first, each with its outstanding fen (amount − live allocations)."""
    bills = list(Bill.objects.filter(account=account, status=Bill.Status.ISSUED).order_by("period", "id"))
    settled = dict(
        PaymentAllocation.objects.filter(bill__in=bills, released_at__isnull=True)
        .values_list("bill_id").annotate(total=Sum("amount_fen")).values_list("bill_id", "total")
    )
    result = []
    for bill in bills:
        outstanding = bill.amount_fen - int(settled.get(bill.pk, 0))
        if outstanding > 0:
            result.append((bill, outstanding))
    return result


def open_penalties(account: Account) -> list[tuple[PenaltyCharge, int]]:
    """Charged late-payment penalties not yet settled or waived, oldest first, each with what is left of it."""
    charges = list(PenaltyCharge.objects.filter(account=account, status=PenaltyCharge.Status.POSTED)
                   .select_related("bill").order_by("created_at", "id"))
    paid = dict(PaymentAllocation.objects.filter(penalty__in=charges, released_at__isnull=True)
                .values_list("penalty_id").annotate(total=Sum("amount_fen")).values_list("penalty_id", "total"))
    left = [(charge, charge.amount_fen - int(paid.get(charge.pk, 0))) for charge in charges]
    return [(charge, fen) for charge, fen in left if fen > 0]


def open_items(account: Account) -> list[tuple[Bill | PenaltyCharge, int]]:
    """What payments settle, in the order they settle it: the open bills oldest first, then the charged penalties
    oldest first."""
    return [*open_bills(account), *open_penalties(account)]


def _allocation(*, payment: Payment, item: Bill | PenaltyCharge, amount_fen: int,
                allocated_at: datetime) -> PaymentAllocation:
    target = {"penalty": item} if isinstance(item, PenaltyCharge) else {"bill": item}
    return PaymentAllocation.objects.create(payment=payment, amount_fen=amount_fen, allocated_at=allocated_at,
                                            **target)


def unallocated_fen(payment: Payment) -> int:
    """The part of a posted payment not settling any bill (the customer's credit from it)."""
    if payment.status != Payment.Status.POSTED:
        return 0
    used = payment.allocations.filter(released_at__isnull=True).aggregate(total=Sum("amount_fen"))["total"]
    return payment.amount_fen - int(used or 0)


def allocate(*, payment: Payment, allocated_at: datetime) -> list[PaymentAllocation]:
    """Settle the oldest open bills of the payment's account with what is left of ``payment``, then its charged
    penalties.

    The caller holds the account's row lock inside a transaction.
    """
    remaining = unallocated_fen(payment)
    if remaining <= 0:
        return []
    shares, _surplus = rules.allocate_oldest_first(amount_fen=remaining, open_items=open_items(payment.account))
    return [_allocation(payment=payment, item=item, amount_fen=share, allocated_at=allocated_at)
            for item, share in shares]


def apply_credit(*, account: Account, created_at: datetime) -> list[PaymentAllocation]:
    """Use the account's credit (unallocated payments, oldest first) to settle its open bills, oldest first.

    The bill run calls this after posting a bill; cancellations and reversals call it themselves.
    Returns the new allocations (empty when there is no credit or nothing is open).
    """
    created: list[PaymentAllocation] = []
    with transaction.atomic():
        lock_account(account.pk)
        for payment in Payment.objects.filter(account=account, status=Payment.Status.POSTED).order_by("taken_at", "id"):
            created += allocate(payment=payment, allocated_at=created_at)
        if created:
            record_event(
                action="CREDIT_APPLIED", obj=account, occurred_at=created_at,
                detail={"allocations": [{"payment": a.payment.receipt_number, "bill_period": a.period, "kind": a.kind,
                                         "amount_fen": a.amount_fen} for a in created]},
            )
    return created


# --- bulk posting for the bill run ------------------------------------------------------------------------

def post_bills(*, bills: list[Bill], created_at: datetime) -> list[int]:
    """Post many issued bills at once: for each the entry, postings and audit event `post_bill` writes.

    Same keys (`bill:<id>`), kinds, dates, descriptions, postings and LEDGER_ENTRY_POSTED events as `post_bill`,
    written with three bulk inserts (`insert_rows`) whatever the number of bills. A bill posted before is not
    posted again: its entry is kept when it is the same, otherwise IdempotencyConflict. Returns the journal entry
    ids, in the order of `bills`. Runs in the caller's transaction (or its own); the caller serialises concurrent
    posting of the same bills (the bill run holds the route's lock), the unique idempotency key is the last guard.
    `bill.account` should be loaded (its number goes into the audit event).

    Raises: BillNotIssued, IdempotencyConflict.
    """
    if not bills:
        return []
    for bill in bills:
        if bill.status != Bill.Status.ISSUED:
            raise BillNotIssued(f"bill {bill.pk} ({bill.account} {bill.period}) is {bill.status}, not ISSUED")
    actor = current_actor()
    username = actor.username
    with transaction.atomic():
        lock_accounts(bill.account_id for bill in bills)
        keys = [f"bill:{bill.pk}" for bill in bills]
        existing: dict[str, JournalEntry] = {}
        for start in range(0, len(keys), 2000):
            existing.update((e.idempotency_key, e) for e in JournalEntry.objects.filter(
                idempotency_key__in=keys[start:start + 2000]).prefetch_related("postings"))
        out: dict[str, int] = {}
        entries, todo = [], []
        for key, bill in zip(keys, bills, strict=True):
            lines = rules.bill_lines(account=bill.account, amount_fen=bill.amount_fen)
            rules.check_balanced(lines)
            if key in existing:
                wanted = _signature(kind=JournalEntry.Kind.BILL, account_id=bill.account_id, postings=lines)
                if _entry_signature(existing[key]) != wanted:
                    raise IdempotencyConflict(
                        f"idempotency key {key!r} was already used for a different entry (#{existing[key].pk})")
                out[key] = existing[key].pk
                continue
            entries.append({
                "kind": JournalEntry.Kind.BILL.value, "account_id": bill.account_id,
                "effective_date": bill.issued_date or business_date(created_at), "created_at": created_at,
                "description": f"Bill {bill.period}"[:300], "source_type": "billing.Bill", "source_id": str(bill.pk),
                "reverses_id": None, "idempotency_key": key, "created_by_id": actor.user_id,
                "hall_id": actor.hall_id, "reason": actor.reason,
            })
            todo.append((key, bill, lines))
        insert_rows(JournalEntry, entries, assign_ids=True)
        postings, events = [], []
        for entry, (key, bill, lines) in zip(entries, todo, strict=True):
            out[key] = entry["id"]
            for ledger_account, acc, amount in lines:
                postings.append({"entry_id": entry["id"], "ledger_account": ledger_account,
                                 "account_id": getattr(acc, "pk", None), "amount_fen": amount})
            # the LEDGER_ENTRY_POSTED event post_entry records through record_event
            events.append({
                "occurred_at": created_at, "action": "LEDGER_ENTRY_POSTED", "user_id": actor.user_id,
                "username": username, "hall_id": actor.hall_id, "channel": actor.channel,
                "object_type": JournalEntry._meta.label, "object_id": str(entry["id"]), "reason": actor.reason,
                "detail": json.dumps({
                    "kind": entry["kind"], "account": bill.account.number,
                    "effective_date": entry["effective_date"].isoformat(),
                    "postings": [[la, getattr(acc, "number", None), amt] for la, acc, amt in lines],
                    "source": f"billing.Bill:{bill.pk}"}),
                "ip_address": None,
            })
        insert_rows(Posting, postings)
        seal_entries(entry["id"] for entry in entries)
        insert_rows(AuditEvent, events)
    return [out[key] for key in keys]


def accounts_with_credit(account_ids) -> set[int]:
    """Those of `account_ids` holding credit: a posted payment not wholly allocated to live bill settlements."""
    ids = list(set(account_ids))
    payments: dict[int, tuple[int, int]] = {}
    for start in range(0, len(ids), 1000):
        payments.update((pid, (account_id, amount)) for pid, account_id, amount in Payment.objects.filter(
            account_id__in=ids[start:start + 1000], status=Payment.Status.POSTED).values_list(
            "id", "account_id", "amount_fen"))
    if not payments:
        return set()
    used: dict[int, int] = defaultdict(int)
    pids = list(payments)
    for start in range(0, len(pids), 1000):
        for pid, total in (PaymentAllocation.objects.filter(payment_id__in=pids[start:start + 1000],
                                                            released_at__isnull=True)
                           .values("payment_id").annotate(total=Sum("amount_fen"))
                           .values_list("payment_id", "total")):
            used[pid] = int(total or 0)
    return {account_id for pid, (account_id, amount) in payments.items() if amount > used[pid]}


def apply_credits(*, accounts: list[Account], created_at: datetime) -> list[PaymentAllocation]:
    """`apply_credit` for each of `accounts` that holds credit; one look-up (two queries) finds them first.

    The bill run calls this once per route after `post_bills`: accounts without unallocated payments (most of
    them) cost nothing more, and those with credit get exactly what `apply_credit` gives them.
    """
    if not accounts:
        return []
    with_credit = accounts_with_credit(a.pk for a in accounts)
    created: list[PaymentAllocation] = []
    seen = set()
    for account in accounts:
        if account.pk in with_credit and account.pk not in seen:
            seen.add(account.pk)
            created += apply_credit(account=account, created_at=created_at)
    return created


# --- the ledger check -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Offence:
    code: str
    object_type: str
    object_id: str
    message: str
    detail: dict = field(default_factory=dict)


@dataclass
class LedgerCheckReport:
    entries_checked: int = 0
    accounts_checked: int = 0
    links_checked: int = 0
    offences: list[Offence] = field(default_factory=list)

    @property
    def first_changed_entry(self) -> int | None:
        """The lowest entry id whose hash-chain link is broken, or None."""
        ids = [int(o.object_id) for o in self.offences if o.code.startswith("CHAIN_")]
        return min(ids) if ids else None

    @property
    def ok(self) -> bool:
        return not self.offences

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries_checked": self.entries_checked, "accounts_checked": self.accounts_checked,
                "links_checked": self.links_checked, "first_changed_entry": self.first_changed_entry,
                "offences": [asdict(o) for o in self.offences]}


def _sum_by(queryset, key: str, value: str = "amount_fen") -> dict:
    return {k: int(v or 0) for k, v in queryset.values_list(key).annotate(total=Sum(value)).values_list(key, "total")}


def chain_heads() -> dict[str, list]:
    """Every account's last hash-chain link, {account number: [seq, digest]}: keep it outside the database (a
    file on another machine, a printout) and pass it to `check_ledger(heads=…)` later."""
    found = chain.heads()
    numbers = dict(Account.objects.filter(pk__in=list(found)).values_list("id", "number"))
    return {numbers[a]: [seq, digest] for a, (seq, digest) in sorted(found.items())}


def check_ledger(*, heads: dict[str, list] | None = None) -> LedgerCheckReport:
    """Check the whole ledger; lists offenders, changes nothing.

    Every entry has at least two postings summing to zero; receivable postings carry the entry's account and
    other postings none; every account's balance (sum of its receivable postings) equals
    posted bills − their cancellations + rebilling differences + adjustments + late-payment penalties charged −
    their waivers − payments not reversed; every posted bill's, penalty's and payment's entry carries its amount; no
    bill, penalty or payment is allocated beyond its amount; no issued bill or charged penalty is open while its
    account holds unallocated credit, and each account's open bills and penalties less its credit equal its
    balance less its adjustments (allocations agree with balances). Every entry's link in
    its account's hash chain is recomputed (the first entry changed outside the rules is named) and the database's
    append-only triggers are all in place. With `heads` (saved earlier by `chain_heads`), each saved last link must
    still be in its chain: an account's last entries removed with their seals are named too.
    """
    report = LedgerCheckReport()
    add = report.offences.append
    _check_tamper_evidence(add, report, heads=heads)

    report.entries_checked = JournalEntry.objects.count()
    entry_sums = {row["entry_id"]: row for row in Posting.objects.values("entry_id").annotate(
        total=Sum("amount_fen"), lines=Count("id"))}
    for entry_id, kind in JournalEntry.objects.values_list("id", "kind").order_by("id"):
        row = entry_sums.get(entry_id)
        if row is None or row["lines"] < 2:
            add(Offence("ENTRY_TOO_FEW_POSTINGS", "ledger.JournalEntry", str(entry_id),
                        f"entry {entry_id} ({kind}) has fewer than two postings"))
        elif row["total"] != 0:
            add(Offence("ENTRY_UNBALANCED", "ledger.JournalEntry", str(entry_id),
                        f"entry {entry_id} ({kind}) postings sum to {row['total']:+d} fen",
                        {"sum_fen": int(row["total"])}))
    for posting_id, entry_id in Posting.objects.filter(ledger_account=LedgerAccount.RECEIVABLE).filter(
            Q(account__isnull=True) | ~Q(account_id=F("entry__account_id"))).values_list("id", "entry_id"):
        add(Offence("RECEIVABLE_ACCOUNT_MISMATCH", "ledger.Posting", str(posting_id),
                    f"receivable posting {posting_id} of entry {entry_id} does not carry the entry's account"))
    for posting_id, entry_id in Posting.objects.exclude(ledger_account=LedgerAccount.RECEIVABLE).filter(
            account__isnull=False).values_list("id", "entry_id"):
        add(Offence("NON_RECEIVABLE_WITH_ACCOUNT", "ledger.Posting", str(posting_id),
                    f"posting {posting_id} of entry {entry_id} is not a receivable but names a customer account"))

    receivable = Posting.objects.filter(ledger_account=LedgerAccount.RECEIVABLE)
    balances = _sum_by(receivable, "account_id")
    adjustments = _sum_by(receivable.filter(entry__kind__in=[JournalEntry.Kind.ADJUSTMENT,
                                                              JournalEntry.Kind.CORRECTION]), "account_id")
    penalties = _sum_by(receivable.filter(entry__kind__in=[JournalEntry.Kind.PENALTY,
                                                            JournalEntry.Kind.PENALTY_WAIVER]), "account_id")
    bill_entry_ids = {int(source_id): entry_id for entry_id, source_id in JournalEntry.objects.filter(
        kind=JournalEntry.Kind.BILL, source_type="billing.Bill").values_list("id", "source_id")}
    cancelled_ids = {int(s) for s in JournalEntry.objects.filter(
        kind=JournalEntry.Kind.BILL_CANCELLATION, source_type="billing.Bill").values_list("source_id", flat=True)}
    bills_by_account: dict[int, int] = defaultdict(int)
    entry_receivable = _sum_by(receivable, "entry_id")
    for bill_id, account_id, amount in Bill.objects.filter(pk__in=bill_entry_ids).values_list(
            "id", "account_id", "amount_fen"):
        if bill_id not in cancelled_ids:
            bills_by_account[account_id] += amount
        if entry_receivable.get(bill_entry_ids[bill_id], 0) != amount:
            add(Offence("BILL_ENTRY_AMOUNT_MISMATCH", "billing.Bill", str(bill_id),
                        f"bill {bill_id} is for {amount} fen but its ledger entry debits "
                        f"{entry_receivable.get(bill_entry_ids[bill_id], 0)} fen"))
    payments_by_account: dict[int, int] = defaultdict(int)
    for payment_id, account_id, amount, status, entry_id, receipt in Payment.objects.values_list(
            "id", "account_id", "amount_fen", "status", "entry_id", "receipt_number"):
        if status == Payment.Status.POSTED:
            payments_by_account[account_id] += amount
        if entry_receivable.get(entry_id, 0) != -amount:
            add(Offence("PAYMENT_ENTRY_AMOUNT_MISMATCH", "ledger.Payment", str(payment_id),
                        f"payment {receipt} is for {amount} fen but its ledger entry credits "
                        f"{-entry_receivable.get(entry_id, 0)} fen"))

    for charge_id, amount, entry_id in PenaltyCharge.objects.values_list("id", "amount_fen", "entry_id"):
        if entry_receivable.get(entry_id, 0) != amount:
            add(Offence("PENALTY_ENTRY_AMOUNT_MISMATCH", "ledger.PenaltyCharge", str(charge_id),
                        f"penalty charge {charge_id} is for {amount} fen but its ledger entry debits "
                        f"{entry_receivable.get(entry_id, 0)} fen"))

    accounts = set(balances) | set(bills_by_account) | set(payments_by_account) | set(adjustments) | set(penalties)
    numbers = dict(Account.objects.filter(pk__in=accounts).values_list("id", "number"))
    report.accounts_checked = len(accounts)
    for account_id in sorted(accounts):
        balance = balances.get(account_id, 0)
        expected = (bills_by_account.get(account_id, 0) + adjustments.get(account_id, 0)
                    + penalties.get(account_id, 0) - payments_by_account.get(account_id, 0))
        if balance != expected:
            add(Offence("ACCOUNT_BALANCE_MISMATCH", "registry.Account", str(account_id),
                        f"account {numbers.get(account_id, account_id)}: postings say {balance} fen, bills − payments "
                        f"+ adjustments + penalties say {expected} fen",
                        {"balance_fen": balance, "expected_fen": expected,
                         "bills_fen": bills_by_account.get(account_id, 0),
                         "payments_fen": payments_by_account.get(account_id, 0),
                         "adjustments_fen": adjustments.get(account_id, 0),
                         "penalties_fen": penalties.get(account_id, 0)}))

    live = PaymentAllocation.objects.filter(released_at__isnull=True)
    _check_settlement(add, live=live, balances=balances, numbers=numbers,
                      adjustments=_sum_by(receivable.filter(entry__kind=JournalEntry.Kind.ADJUSTMENT), "account_id"))
    # the bills' and payments' amounts in one query each (not one per allocated bill or payment)
    bill_amounts = dict(Bill.objects.filter(pk__in=live.values("bill_id")).values_list("id", "amount_fen"))
    charge_amounts = dict(PenaltyCharge.objects.filter(pk__in=live.values("penalty_id")).values_list("id", "amount_fen"))
    for charge_id, allocated in _sum_by(live.filter(penalty__isnull=False), "penalty_id").items():
        if allocated > charge_amounts.get(charge_id, 0):
            add(Offence("PENALTY_OVER_ALLOCATED", "ledger.PenaltyCharge", str(charge_id),
                        f"penalty charge {charge_id} has {allocated} fen of payments against "
                        f"{charge_amounts.get(charge_id, 0)} fen"))
    payment_rows = {pk: (amount, status) for pk, amount, status in Payment.objects.filter(
        pk__in=live.values("payment_id")).values_list("id", "amount_fen", "status")}
    for bill_id, allocated in _sum_by(live.filter(bill__isnull=False), "bill_id").items():
        amount = bill_amounts.get(bill_id) or 0
        if allocated > amount:
            add(Offence("BILL_OVER_ALLOCATED", "billing.Bill", str(bill_id),
                        f"bill {bill_id} has {allocated} fen of payments against {amount} fen"))
    for payment_id, allocated in _sum_by(live, "payment_id").items():
        payment = payment_rows.get(payment_id)
        if payment and (allocated > payment[0] or payment[1] != Payment.Status.POSTED):
            add(Offence("PAYMENT_OVER_ALLOCATED", "ledger.Payment", str(payment_id),
                        f"payment {payment_id} settles {allocated} fen of bills but can settle "
                        f"{payment[0] if payment[1] == Payment.Status.POSTED else 0} fen"))
    return report


def _check_settlement(add, *, live, balances: dict[int, int], numbers: dict[int, str], adjustments: dict[int, int]
                      ) -> None:
    """Allocations against balances: an account holding credit has no open bill (credit settles bills as soon as
    both exist), and Σ outstanding of its issued bills − its unallocated credit = balance − adjustments (which no
    payment settles)."""
    allocated_to_bill = _sum_by(live.filter(bill__isnull=False), "bill_id")
    outstanding: dict[int, int] = defaultdict(int)
    open_bill: dict[int, tuple[int, str, int]] = {}
    for bill_id, account_id, period, amount in Bill.objects.filter(status=Bill.Status.ISSUED).values_list(
            "id", "account_id", "period", "amount_fen").order_by("account_id", "period", "id"):
        left = amount - allocated_to_bill.get(bill_id, 0)
        outstanding[account_id] += left
        if left > 0 and account_id not in open_bill:
            open_bill[account_id] = (bill_id, period, left)
    allocated_to_charge = _sum_by(live.filter(penalty__isnull=False), "penalty_id")
    open_charge: dict[int, tuple[int, str, int]] = {}
    for charge_id, account_id, period, amount in PenaltyCharge.objects.filter(
            status=PenaltyCharge.Status.POSTED).values_list("id", "account_id", "bill__period", "amount_fen"
                                                            ).order_by("account_id", "created_at", "id"):
        left = amount - allocated_to_charge.get(charge_id, 0)
        outstanding[account_id] += left
        if left > 0 and account_id not in open_charge:
            open_charge[account_id] = (charge_id, period, left)
    allocated_from_payment = _sum_by(live.filter(payment__status=Payment.Status.POSTED), "payment_id")
    credit: dict[int, int] = defaultdict(int)
    for payment_id, account_id, amount in Payment.objects.filter(status=Payment.Status.POSTED).values_list(
            "id", "account_id", "amount_fen"):
        credit[account_id] += amount - allocated_from_payment.get(payment_id, 0)
    missing = (set(outstanding) | set(credit)) - set(numbers)
    numbers = {**numbers, **dict(Account.objects.filter(pk__in=missing).values_list("id", "number"))}
    for account_id in sorted(set(outstanding) | set(credit)):
        number = numbers.get(account_id, account_id)
        if account_id in open_bill and credit.get(account_id, 0) > 0:
            bill_id, period, left = open_bill[account_id]
            add(Offence("OPEN_BILL_BESIDE_CREDIT", "billing.Bill", str(bill_id),
                        f"account {number}: bill {period} has {left} fen open while the account holds "
                        f"{credit[account_id]} fen of unallocated credit",
                        {"account": str(number), "open_fen": left, "credit_fen": credit[account_id]}))
        if account_id in open_charge and credit.get(account_id, 0) > 0:
            charge_id, period, left = open_charge[account_id]
            add(Offence("OPEN_PENALTY_BESIDE_CREDIT", "ledger.PenaltyCharge", str(charge_id),
                        f"account {number}: the penalty on bill {period} has {left} fen open while the account "
                        f"holds {credit[account_id]} fen of unallocated credit",
                        {"account": str(number), "open_fen": left, "credit_fen": credit[account_id]}))
        expected = balances.get(account_id, 0) - adjustments.get(account_id, 0)
        settled = outstanding.get(account_id, 0) - credit.get(account_id, 0)
        if settled != expected:
            add(Offence("ALLOCATIONS_BALANCE_MISMATCH", "registry.Account", str(account_id),
                        f"account {number}: open bills − credit = {settled} fen, but balance − adjustments = "
                        f"{expected} fen",
                        {"open_less_credit_fen": settled, "balance_less_adjustments_fen": expected}))


CHAIN_MESSAGES = {
    "CHANGED": "entry {entry} (account {account}, link {seq}) differs from what was sealed: changed outside the "
               "ledger's rules",
    "UNSEALED": "entry {entry} (account {account}) is in no chain: written outside the ledger's rules",
    "MISSING": "link {seq} of account {account} seals entry {entry}, which is gone",
    "GAP": "the links before link {seq} of account {account} (entry {entry}) are gone: entries were removed",
    "MOVED": "entry {entry} was sealed for account {account} and now belongs to another",
}


def _check_tamper_evidence(add, report: LedgerCheckReport, *, heads: dict[str, list] | None) -> None:
    """The hash chain of every account (`data.ledger.chain`) and the append-only triggers (`data.ledger.guard`)."""
    for table in guard.missing():
        add(Offence("GUARD_MISSING", "table", table,
                    f"table {table} lacks its append-only trigger: run `gridcounter migrate`, or re-install the "
                    f"guards after a migration that rebuilt the table"))
    report.links_checked, broken = chain.check_chain(key=guard.chain_key())
    numbers = dict(Account.objects.filter(pk__in={b.account_id for b in broken}).values_list("id", "number"))
    for link in broken:
        add(Offence(f"CHAIN_{link.problem}", "ledger.JournalEntry", str(link.entry_id),
                    CHAIN_MESSAGES[link.problem].format(entry=link.entry_id, seq=link.seq,
                                                        account=numbers.get(link.account_id, link.account_id)),
                    {"account": str(numbers.get(link.account_id, link.account_id)), "seq": link.seq}))
    if heads:
        ids = dict(Account.objects.filter(number__in=list(heads)).values_list("number", "id"))
        saved = {ids[n]: (int(seq), digest) for n, (seq, digest) in heads.items() if n in ids}
        by_id = {v: k for k, v in ids.items()}
        for account_id, seq in chain.missing_heads(saved):
            add(Offence("CHAIN_TRUNCATED", "registry.Account", str(account_id),
                        f"account {by_id[account_id]}: link {seq}, saved as its last, is no longer in its chain: "
                        f"entries were removed", {"account": by_id[account_id], "seq": seq}))
        for number in sorted(set(heads) - set(ids)):
            add(Offence("CHAIN_TRUNCATED", "registry.Account", number,
                        f"account {number} had a chain when the heads were saved and is gone", {"account": number}))
