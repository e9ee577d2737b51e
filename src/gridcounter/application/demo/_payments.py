"""Demo step: the demo city pays its bills, so balances, the ledger and the supervisor's day look like a real city.

Most accounts pay each bill within its due period (never late: a late payment would charge a late-payment
penalty, which only `take_payment` writes): those with a withholding mandate by BANK_WITHHOLDING on the
due date, the rest ONLINE or in CASH or by CARD at a hall of their city. A few accounts are in arrears (their
last 2–4 bills unpaid), a few pay a little more than billed (credit), and last month's bill is still open for a
share of accounts. The history goes in with bulk inserts writing exactly the rows `take_payment` writes
(receipt, PAYMENT entry and postings, allocations oldest bill first, history versions, audit events); today's
payments at the counters go through `take_payment` itself. Deterministic (seeded); a second run adds nothing.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from django.db import transaction
from django.db.models import Sum

from gridcounter.application import ledger
from gridcounter.application.bulk import insert_rows, json_text, prepare_connection
from gridcounter.application.ledger import take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import (
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
    Posting,
    ReceiptSequence,
)
from gridcounter.data.org.models import Hall, Role, StaffUser
from gridcounter.data.registry.models import Account
from gridcounter.domain import ledger as rules
from gridcounter.domain.business_time import BUSINESS_TZ

SEED = 20240701
LOADED = "DEMO_PAYMENTS_LOADED"
REASON = "demo payment history"
TODAY_REASON = "payment at the counter"
COUNTER = (Payment.Channel.CASH, Payment.Channel.CARD)
ARREARS_SHARE = 0.03  # accounts whose last 2–4 bills are unpaid
CREDIT_SHARE = 0.05  # accounts that round their payments up and keep a little credit
LAST_MONTH_OPEN_SHARE = 0.22  # accounts (not on withholding) that have not paid last month's bill yet
TODAY_PER_HALL = {"CITY": 12, "COUNTY": 8, "RURAL": 6}
TODAY_ONLINE = 6
CASH_LIMIT_FEN = 500_000  # larger sums are paid by card (transfer), not in notes


@dataclass(frozen=True)
class PlannedPayment:
    """One payment as `take_payment` takes it."""

    account: Account
    amount_fen: int
    channel: str
    hall: Hall
    clerk: StaffUser | None
    idempotency_key: str
    taken_at: datetime


def payment_actor(channel: str) -> Actor:
    """Who books a demo payment (`take_payment` adds the clerk and the hall): the web counter or the system."""
    return Actor(reason=REASON, channel="WEB" if channel in COUNTER else "SYSTEM")


# --- what is open ---------------------------------------------------------------------------------------------

class OpenBills:
    """Per account, its issued bills oldest first with what is outstanding, as `open_bills` sees them."""

    def __init__(self, accounts: list[Account]):
        ids = [a.pk for a in accounts]
        self.bills: dict[int, list[list]] = defaultdict(list)  # account id -> [[id, period, outstanding, (issued, due)]]
        settled: dict[int, int] = defaultdict(int)
        balances: dict[int, int] = defaultdict(int)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for bill_id, total in (PaymentAllocation.objects.filter(bill__account_id__in=chunk, released_at__isnull=True)
                                   .values("bill_id").annotate(total=Sum("amount_fen")).values_list("bill_id", "total")):
                settled[bill_id] = int(total or 0)
            for account_id, total in (Posting.objects.filter(account_id__in=chunk,
                                                             ledger_account=LedgerAccount.RECEIVABLE)
                                      .values("account_id").annotate(total=Sum("amount_fen"))
                                      .values_list("account_id", "total")):
                balances[account_id] = int(total or 0)
            for bill_id, account_id, period, amount, issued, due in (
                    Bill.objects.filter(account_id__in=chunk, status=Bill.Status.ISSUED).order_by(
                        "account_id", "period", "id").values_list(
                        "id", "account_id", "period", "amount_fen", "issued_date", "due_date")):
                self.bills[account_id].append([bill_id, period, amount - settled[bill_id], (issued, due)])
        self.balances = balances

    def outstanding(self, account_id: int, bill_id: int) -> int:
        return next(max(o, 0) for b, _p, o, _bill in self.bills[account_id] if b == bill_id)

    def pay(self, account_id: int, amount_fen: int) -> list[tuple[int, str, int]]:
        """Settle the oldest open bills with ``amount_fen``: [(bill id, period, fen)], as `allocate` would."""
        items = [(item, item[2]) for item in self.bills[account_id] if item[2] > 0]
        shares, _surplus = rules.allocate_oldest_first(amount_fen=amount_fen, open_items=items)
        for item, share in shares:
            item[2] -= share
        self.balances[account_id] -= amount_fen
        return [(item[0], item[1], share) for item, share in shares]


# --- the plan ---------------------------------------------------------------------------------------------------

def _clerks_by_hall(city_ids) -> tuple[dict[int, list[Hall]], dict[int, list[StaffUser]]]:
    halls: dict[int, list[Hall]] = defaultdict(list)
    for hall in Hall.objects.filter(city_id__in=city_ids).order_by("code"):
        halls[hall.city_id].append(hall)
    clerks: dict[int, list[StaffUser]] = defaultdict(list)
    for user in (StaffUser.objects.filter(hall__city_id__in=city_ids, is_active=True, roles__code=Role.Code.CLERK)
                 .order_by("username").distinct()):
        clerks[user.hall_id].append(user)
    return halls, clerks


def _at(day: date, minutes: int) -> datetime:
    return (datetime.combine(day, clock(0), BUSINESS_TZ) + timedelta(minutes=minutes)).astimezone(UTC)


def plan_history(*, accounts: list[Account], as_of: date, seed: int = SEED, arrears_share: float = ARREARS_SHARE,
                 credit_share: float = CREDIT_SHARE) -> tuple[list[PlannedPayment], dict]:
    """The payments of the bills issued before ``as_of``, all taken before ``as_of``, oldest first.

    Returns the payments and the accounts picked as in arrears and as keeping credit (their numbers).
    """
    rng = random.Random(seed)
    accounts = sorted(accounts, key=lambda a: a.pk)
    book = OpenBills(accounts)
    halls, clerks = _clerks_by_hall({a.city_id for a in accounts})
    hall_by_id = {h.pk: h for city_halls in halls.values() for h in city_halls}
    planned: list[PlannedPayment] = []
    picked = {"arrears": [], "credit": []}
    for account in accounts:
        bills = [item for item in book.bills[account.pk] if item[3][0] and item[3][0] < as_of]
        if not bills:
            continue
        roll = rng.random()
        bank = account.bank_withholding
        # key accounts (large industry) are followed up by their account manager and never fall months behind
        key_account = account.usage_category == "LARGE_INDUSTRY"
        unpaid = rng.randint(2, 4) if not bank and not key_account and roll < arrears_share else 0
        credit = not unpaid and arrears_share <= roll < arrears_share + credit_share
        if unpaid:
            picked["arrears"].append(account.number)
        if credit:
            picked["credit"].append(account.number)
        last_open = not bank and not unpaid and rng.random() < LAST_MONTH_OPEN_SHARE
        favourite = rng.choices(["ONLINE", "CASH", "CARD"], weights=[45, 30, 25])[0]
        home = hall_by_id[account.home_hall_id]
        city_halls = [h for h in halls[account.city_id] if clerks.get(h.pk)]
        previous: datetime | None = None
        for n, (bill_id, period, _outstanding, (issued, due)) in enumerate(bills):
            if n >= len(bills) - unpaid or (last_open and n == len(bills) - 1):
                break
            due = due or issued + timedelta(days=15)
            if bank:
                channel, hall, clerk = "BANK_WITHHOLDING", home, None
                day, minutes = due, 2 * 60 + rng.randrange(120)
            else:
                channel = favourite if rng.random() < 0.8 else rng.choice(["ONLINE", "CASH", "CARD"])
                span = max((due - issued).days, 1)
                # within the due period: a late payment charges a late-payment penalty, which the bulk booking
                # below does not write (only `take_payment` does: the payments taken today)
                rng.random()  # the draw that once made a few payments late: kept, so the seeded plan stays the same
                offset = rng.randint(1, span)
                day = issued + timedelta(days=offset)
                if channel == "ONLINE" or not city_halls:
                    channel = "ONLINE" if not city_halls else channel
                    hall, clerk = home, None
                    minutes = 7 * 60 + rng.randrange(16 * 60)
                else:
                    hall = home if home in city_halls and rng.random() < 0.75 else rng.choice(city_halls)
                    clerk = rng.choice(clerks[hall.pk])
                    minutes = 8 * 60 + 30 + rng.randrange(9 * 60)
            taken_at = _at(day, minutes)
            if previous is not None and taken_at <= previous:
                taken_at = previous + timedelta(minutes=7)
            if taken_at.astimezone(BUSINESS_TZ).date() >= as_of:
                break
            due_now = book.outstanding(account.pk, bill_id)
            if due_now <= 0:
                continue  # credit paid it already
            if channel == "CASH" and due_now > CASH_LIMIT_FEN:
                channel = "CARD"
            amount = due_now
            if credit:
                unit = rng.choice([1000, 5000, 10000])
                amount = (due_now // unit + 1) * unit
            book.pay(account.pk, amount)
            planned.append(PlannedPayment(account=account, amount_fen=amount, channel=channel, hall=hall, clerk=clerk,
                                          idempotency_key=f"demo-{account.number}-{period}", taken_at=taken_at))
            previous = taken_at
    planned.sort(key=lambda p: (p.taken_at, p.account.pk))
    return planned, picked


# --- the bulk booking -------------------------------------------------------------------------------------------

def book_payments(planned: list[PlannedPayment]) -> int:
    """Book ``planned`` (taken_at order) with bulk inserts: exactly the rows `take_payment` would write for each.

    Receipt numbers continue each hall's sequence of the day; allocations settle the oldest open bills as the
    bills stand now; the audit events and history versions carry the actor of `payment_actor`. Call inside a
    transaction holding the write lock (SQLite) and with nobody else paying these accounts meanwhile.
    """
    if not planned:
        return 0
    book = OpenBills(list({p.account.pk: p.account for p in planned}.values()))
    days = {(p.hall.pk, p.taken_at.astimezone(BUSINESS_TZ).date()) for p in planned}
    sequences = {(s.hall_id, s.business_date): s for s in ReceiptSequence.objects.filter(
        hall_id__in={h for h, _d in days}, business_date__in={d for _h, d in days})}
    counters = {key: s.last_number for key, s in sequences.items()}
    entries, payments, receipts = [], [], []
    for p in planned:
        if (not isinstance(p.amount_fen, int) or p.amount_fen <= 0 or p.hall.city_id != p.account.city_id
                or p.channel not in Payment.Channel.values):
            raise ValueError(f"cannot book {p}")
        day = p.taken_at.astimezone(BUSINESS_TZ).date()
        counters[(p.hall.pk, day)] = counters.get((p.hall.pk, day), 0) + 1
        receipt = f"{p.hall.code}-{day:%Y%m%d}-{counters[(p.hall.pk, day)]:06d}"
        actor = payment_actor(p.channel)
        receipts.append((receipt, day, actor))
        entries.append({
            "kind": JournalEntry.Kind.PAYMENT.value, "account_id": p.account.pk, "effective_date": day,
            "created_at": p.taken_at, "description": f"Payment {receipt}"[:300], "source_type": "ledger.Payment",
            "source_id": receipt, "reverses_id": None, "idempotency_key": f"payment:{p.idempotency_key}",
            "created_by_id": getattr(p.clerk, "pk", None), "hall_id": p.hall.pk, "reason": actor.reason,
        })
    insert_rows(JournalEntry, entries, assign_ids=True)
    postings = []
    for p, entry in zip(planned, entries, strict=True):
        for ledger_account, acc, amount in rules.payment_lines(account=p.account, amount_fen=p.amount_fen,
                                                               channel=p.channel):
            postings.append({"entry_id": entry["id"], "ledger_account": ledger_account,
                             "account_id": getattr(acc, "pk", None), "amount_fen": amount})
    insert_rows(Posting, postings)
    ledger.seal_entries(entry["id"] for entry in entries)
    for p, entry, (receipt, day, _actor) in zip(planned, entries, receipts, strict=True):
        payments.append({
            "account_id": p.account.pk, "amount_fen": p.amount_fen, "channel": p.channel, "hall_id": p.hall.pk,
            "clerk_id": getattr(p.clerk, "pk", None), "receipt_number": receipt, "idempotency_key": p.idempotency_key,
            "taken_at": p.taken_at, "taken_date": day, "entry_id": entry["id"], "status": Payment.Status.POSTED.value,
        })
    insert_rows(Payment, payments, assign_ids=True)
    allocations, shares_of = [], []
    for p, payment in zip(planned, payments, strict=True):
        shares = book.pay(p.account.pk, p.amount_fen)
        shares_of.append((shares, book.balances[p.account.pk]))
        for bill_id, _period, share in shares:
            allocations.append({"payment_id": payment["id"], "bill_id": bill_id, "amount_fen": share,
                                "allocated_at": p.taken_at, "released_at": None, "release_reason": ""})
    insert_rows(PaymentAllocation, allocations, assign_ids=True)
    # the "+" versions Payment.objects.create and PaymentAllocation.objects.create write, stamped by the actor
    stamps = {}
    for p, payment, (_receipt, _day, actor) in zip(planned, payments, receipts, strict=True):
        stamps[payment["id"]] = {"history_date": p.taken_at, "history_user_id": getattr(p.clerk, "pk", None),
                                 "history_change_reason": actor.reason[:100] or None, "history_type": "+",
                                 "history_hall_id": p.hall.pk, "history_channel": actor.channel}
    insert_rows(Payment.history.model, [{**row, **stamps[row["id"]]} for row in payments])
    insert_rows(PaymentAllocation.history.model, [{**row, **stamps[row["payment_id"]]} for row in allocations])
    events = []
    for p, entry, payment, (receipt, day, actor), (shares, balance) in zip(
            planned, entries, payments, receipts, shares_of, strict=True):
        user = {"user_id": getattr(p.clerk, "pk", None), "username": getattr(p.clerk, "username", "") or "",
                "hall_id": p.hall.pk, "channel": actor.channel, "reason": actor.reason, "ip_address": None}
        lines = rules.payment_lines(account=p.account, amount_fen=p.amount_fen, channel=p.channel)
        events.append({**user, "occurred_at": p.taken_at, "action": "LEDGER_ENTRY_POSTED",
                       "object_type": JournalEntry._meta.label, "object_id": str(entry["id"]),
                       "detail": json_text({"kind": entry["kind"], "account": p.account.number,
                                            "effective_date": day.isoformat(),
                                            "postings": [[la, getattr(acc, "number", None), amt]
                                                         for la, acc, amt in lines],
                                            "source": f"ledger.Payment:{receipt}"})})
        events.append({**user, "occurred_at": p.taken_at, "action": "PAYMENT_TAKEN",
                       "object_type": Payment._meta.label, "object_id": str(payment["id"]),
                       "detail": json_text({"account": p.account.number, "amount_fen": p.amount_fen,
                                            "channel": p.channel, "receipt": receipt,
                                            "allocations": [{"bill_id": b, "kind": "BILL", "period": period, "amount_fen": share}
                                                            for b, period, share in shares],
                                            "balance_fen": balance})})
    insert_rows(AuditEvent, events)
    new = []
    for (hall_id, day), last in counters.items():
        if (hall_id, day) in sequences:
            ReceiptSequence.objects.filter(pk=sequences[(hall_id, day)].pk).update(last_number=last)
        else:
            new.append({"hall_id": hall_id, "business_date": day, "last_number": last})
    insert_rows(ReceiptSequence, new)
    return len(planned)


# --- today at the counters --------------------------------------------------------------------------------------

def plan_today(*, accounts: list[Account], as_of: date, seed: int = SEED) -> list[PlannedPayment]:
    """30–60 payments of today: each hall's clerks settle what customers owe, and a few pay online."""
    rng = random.Random(seed + as_of.toordinal())
    accounts = sorted(accounts, key=lambda a: a.pk)
    book = OpenBills(accounts)
    owing = [a for a in accounts if book.balances[a.pk] > 0]
    halls, clerks = _clerks_by_hall({a.city_id for a in accounts})
    by_home: dict[int, list[Account]] = defaultdict(list)
    for account in owing:
        by_home[account.home_hall_id].append(account)
    used: set[int] = set()
    planned: list[PlannedPayment] = []

    def add(account, channel, hall, clerk, minutes):
        amount = book.balances[account.pk]
        if channel == "CASH" and amount > CASH_LIMIT_FEN:
            channel = "CARD"
        if channel == "CASH" and rng.random() < 0.3:
            amount = (amount // 1000 + 1) * 1000  # rounded up to the next ten-yuan note; the change stays as credit
        elif rng.random() < 0.1 and amount > 20000:
            amount = amount // 2  # part of what is owed
        used.add(account.pk)
        planned.append(PlannedPayment(
            account=account, amount_fen=amount, channel=channel, hall=hall, clerk=clerk,
            idempotency_key=f"demo-{as_of:%Y%m%d}-{len(planned) + 1:03d}", taken_at=_at(as_of, minutes)))

    for city_halls in halls.values():
        for hall in city_halls:
            if not clerks.get(hall.pk):
                continue
            city_owing = [a for a in owing if a.city_id == hall.city_id]
            minutes = 8 * 60 + 30
            for n in range(TODAY_PER_HALL.get(hall.kind, 6)):
                pool = [a for a in (by_home[hall.pk] if n % 4 else city_owing) if a.pk not in used]
                if not pool:
                    break
                minutes += rng.randint(5, 25)
                add(rng.choice(pool), rng.choice(COUNTER), hall, rng.choice(clerks[hall.pk]), minutes)
    online = [a for a in owing if a.pk not in used]
    for _n in range(min(TODAY_ONLINE, len(online))):
        account = online.pop(rng.randrange(len(online)))
        home = next(h for hs in halls.values() for h in hs if h.pk == account.home_hall_id)
        add(account, "ONLINE", home, None, 7 * 60 + rng.randrange(5 * 60))
    planned.sort(key=lambda p: (p.taken_at, p.account.pk))
    return planned


def take_today(planned: list[PlannedPayment]) -> int:
    """Take today's payments through `take_payment`, as the counters and the online channel do."""
    taken = 0
    for p in planned:
        actor = Actor(reason=TODAY_REASON if p.channel in COUNTER else "online payment",
                      channel="WEB" if p.channel in COUNTER else "API")
        with acting_as(actor):
            result = take_payment(account=p.account, amount_fen=p.amount_fen, channel=p.channel, hall=p.hall,
                                  clerk=p.clerk, idempotency_key=p.idempotency_key, taken_at=p.taken_at)
        taken += not result.replayed
    return taken


# --- the step ---------------------------------------------------------------------------------------------------

def _demo_accounts() -> list[Account]:
    return list(Account.objects.filter(city__company__code="DEMO").only(
        "id", "number", "city_id", "home_hall_id", "bank_withholding", "usage_category"))


def build(*, as_of: date, stdout) -> None:
    """Pay the demo's bill history once, then take today's payments at the halls; a second run adds nothing."""
    started = time.monotonic()
    accounts = _demo_accounts()
    if not accounts or not Bill.objects.filter(account__city__company__code="DEMO").exists():
        stdout.write("payments: no demo bills yet; nothing to pay.\n")
        return
    if AuditEvent.objects.filter(action=LOADED).exists():
        history = None
    else:
        planned, picked = plan_history(accounts=accounts, as_of=as_of)
        with acting_as(Actor(reason=REASON, channel="SYSTEM")), transaction.atomic():
            prepare_connection()
            booked = book_payments(planned)
            record_event(action=LOADED, detail={
                "as_of": as_of.isoformat(), "payments": booked,
                "amount_fen": sum(p.amount_fen for p in planned),
                "arrears": picked["arrears"], "credit": picked["credit"]})
        history = (booked, picked)
    today_key = f"demo-{as_of:%Y%m%d}-"
    taken = 0
    if not Payment.objects.filter(idempotency_key__startswith=today_key).exists():
        taken = take_today(plan_today(accounts=accounts, as_of=as_of))
    if history is None and not taken:
        stdout.write("payments: the demo payment history is already loaded; nothing to do.\n")
        return
    parts = []
    if history is not None:
        booked, picked = history
        parts.append(f"{booked} payments of the bill history ({len(picked['arrears'])} accounts in arrears, "
                     f"e.g. {', '.join(picked['arrears'][:3])}; {len(picked['credit'])} holding credit)")
    if taken:
        parts.append(f"{taken} payments taken today at the halls")
    stdout.write(f"payments: {'; '.join(parts)}, in {time.monotonic() - started:.0f} s.\n")


__all__ = ["PlannedPayment", "book_payments", "build", "payment_actor", "plan_history", "plan_today", "take_today"]
