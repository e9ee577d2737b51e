"""A state machine over the money of four accounts on three tariffs, through the use cases, one step at a time:
readings month after month, bill runs by both engines (and reruns of billed periods), the auditor's decisions on
held bills, rebills, adjustments, payments (retried with the same key) and their reversals, and a supervisor
waiving a late-payment penalty that a late payment charged.

After every step: every entry's debits equal its credits and the ledger check finds nothing; each account's
balance is the sum of its receivable postings and equals its issued bills, less its payments kept, plus its
adjustments and its penalties charged (less those waived); no issued bill or charged penalty stays open while its
account holds credit that nothing uses; one live bill per account and period.

The last account is on a time-of-use tariff and its meter sends 15-minute intervals, imported each month (or not:
its period is then held GAP) and billed from them. Each example builds its own accounts inside a savepoint of the
test's transaction, and its own interval folder, and rolls both back at its end.
"""
import shutil
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from django.test import TestCase, override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gridcounter.application import billing, ledger
from gridcounter.application.billrun import KERNEL, REFERENCE, run_bills
from gridcounter.application.readings import import_intervals, submit_reading
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, LedgerAccount, Payment, PenaltyCharge, Posting
from gridcounter.data.org.models import Role

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Asia/Shanghai")
ACTOR = Actor(reason="state machine", channel="SYSTEM")
FIRST = date(2025, 1, 15)  # the first fixed-day reading; the first period billed is 2025-02
MONTHS = 5  # periods 2025-02 … 2025-06 at most
TARIFFS = ({"tariff": "BJ-RES-LT1KV"}, {"tariff": "BJ-RES-SHARED", "category": "SHARED_METER_RESIDENTIAL"},
           {"tariff": "BJ-RES-LT1KV", "multiplier": "2.5", "household_size": 6}, {"tariff": "SH-RES-TOU"})
INTERVALS = len(TARIFFS) - 1  # the account whose meter sends 15-minute intervals
SETTINGS = settings(max_examples=12, stateful_step_count=14, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

accounts_ = st.integers(min_value=0, max_value=len(TARIFFS) - 1)
# kWh of a month: mostly ordinary, sometimes far more (a spike, a bill shock), sometimes no reading at all; the
# interval account's in hundredths of a kWh per quarter hour (0.01 … 0.40), or no file that month
usage = st.one_of(st.integers(min_value=0, max_value=400), st.integers(min_value=50, max_value=400),
                  st.integers(min_value=400, max_value=3000), st.none())
usages = st.tuples(*[usage] * INTERVALS, st.one_of(st.integers(min_value=1, max_value=40), st.none()))
engines = st.sampled_from([KERNEL, REFERENCE])


def fen_sum(queryset, field: str = "amount_fen") -> int:
    return int(queryset.aggregate(total=Sum(field))["total"] or 0)


class MoneyMachine(RuleBasedStateMachine):
    """The accounts of the billing city (fixture `city`), their money through the use cases."""

    city = None  # set by the test

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.acting = acting_as(ACTOR)
        self.acting.__enter__()
        self.folder = Path(tempfile.mkdtemp(prefix="money-machine-"))
        self.intervals = override_settings(GRIDCOUNTER_INTERVAL_DIR=self.folder / "intervals")
        self.intervals.enable()
        city = self.city
        self.hall = city.hall
        self.clerk = city.staff(f"m_clerk{city.n}", Role.Code.CLERK)
        self.supervisor = city.staff(f"m_supervisor{city.n}", Role.Code.SUPERVISOR)
        self.accounts, self.meters, self.values = [], [], []
        for kind in TARIFFS:
            account, meter = city.account(installed=date(2024, 12, 1), **kind)
            self.accounts.append(account)
            self.meters.append(meter)
            self.values.append(Decimal(1000))
            self._read(len(self.accounts) - 1, FIRST, Decimal(1000))
        self.month = 0  # readings taken up to FIRST + month months
        self.clock = datetime.combine(FIRST, time(12), TZ)
        self.adjusted = [0] * len(self.accounts)
        self.payments: list[Payment] = []
        self.keys = 0

    def teardown(self):
        self.intervals.disable()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.acting.__exit__(None, None, None)
        transaction.savepoint_rollback(self.savepoint)

    # --- the world's helpers -----------------------------------------------------------------------------

    def _read(self, i: int, day: date, value: Decimal) -> None:
        moment = datetime.combine(day, time(10), TZ)
        submit_reading(meter=self.meters[i], register="TOTAL", read_at=moment, value=value, source="AMI",
                       actor=ACTOR, received_at=moment)

    def _send_intervals(self, start: date, end: date, quarter_kwh: Decimal) -> Decimal:
        """The interval meter's head-end file for [start, end): the same energy every quarter hour; the total."""
        moment, stop = datetime.combine(start, time(0), TZ), datetime.combine(end, time(0), TZ)
        meter, lines = self.meters[INTERVALS].asset_number, []
        while moment < stop:
            lines.append(f"{meter},{moment:%Y-%m-%dT%H:%M},{quarter_kwh}")
            moment += timedelta(minutes=15)
        path = self.folder / f"ami-{end:%Y-%m}.csv"
        path.write_text("meter,start_at,kwh\n" + "\n".join(lines) + "\n", encoding="utf-8")
        with TestCase.captureOnCommitCallbacks(execute=True):  # the parts move into place when the import commits
            imported = import_intervals(path=path, as_of=datetime.combine(end, time(12), TZ))
        assert imported.rejected_rows == []
        return quarter_kwh * len(lines)

    def _tick(self) -> datetime:
        self.clock += timedelta(minutes=30)
        return self.clock

    def _period(self, month: int) -> str:
        day = date(2025, FIRST.month + month, 1)
        return f"{day:%Y-%m}"

    def _bills(self, **filters):
        return Bill.objects.filter(account__in=self.accounts, **filters).select_related("account").order_by("id")

    # --- the rules -------------------------------------------------------------------------------------------

    @initialize(used=usages, engine=engines)
    def a_first_month_read_and_billed(self, used, engine):
        self.readings_of_the_next_month(used, engine)

    @precondition(lambda self: self.month < MONTHS)
    @rule(used=usages, engine=st.one_of(st.none(), engines))
    def readings_of_the_next_month(self, used, engine):
        """The fixed day's readings of the next month (None: missed), validated as they come in, and with an
        `engine` the period's bill run three days later."""
        self.month += 1
        day = date(2025, FIRST.month + self.month, FIRST.day)
        for i, kwh in enumerate(used):
            if kwh is not None and i == INTERVALS:
                previous = date(2025, FIRST.month + self.month - 1, FIRST.day)
                kwh = self._send_intervals(previous, day, Decimal(kwh) / 100)
            if kwh is not None:
                self.values[i] += kwh
                self._read(i, day, self.values[i])
        self.clock = datetime.combine(day + timedelta(days=3), time(9), TZ)
        if engine is not None:
            self.bill_run(engine, 0)

    @precondition(lambda self: self.month >= 1)
    @rule(engine=engines, back=st.integers(min_value=0, max_value=2))
    def bill_run(self, engine, back):
        """A bill run of the last period read, or a rerun of an earlier one, by either engine."""
        month = max(1, self.month - back)
        moment = self._tick()
        run_bills(period=self._period(month), as_of=moment.date(), created_at=moment.astimezone(UTC),
                  engine=engine)

    @rule(i=accounts_, fen=st.integers(min_value=1, max_value=80_000), tries=st.integers(min_value=1, max_value=3))
    def payment(self, i, fen, tries):
        """A payment at the counter, its request sent `tries` times with the same idempotency key."""
        self.keys += 1
        moment = self._tick()
        results = [ledger.take_payment(account=self.accounts[i], amount_fen=fen, channel="CASH", hall=self.hall,
                                       clerk=self.clerk, idempotency_key=f"m-{self.keys}", taken_at=moment)
                   for _ in range(tries)]
        assert len({r.payment.pk for r in results}) == 1 and [r.replayed for r in results[1:]] == [True] * (tries - 1)
        self.payments.append(results[0].payment)

    @precondition(lambda self: self.payments)
    @rule(which=st.integers(min_value=0), twice=st.booleans())
    def reversal(self, which, twice):
        """A supervisor takes a payment back (asking twice reverses once)."""
        payment = self.payments[which % len(self.payments)]
        moment = self._tick()
        for _ in range(2 if twice else 1):
            ledger.reverse_payment(payment=payment, by=self.supervisor, reason="the bank recalled it",
                                   reversed_at=moment)

    @rule(i=accounts_, fen=st.integers(min_value=-30_000, max_value=30_000).filter(bool))
    def adjustment(self, i, fen):
        """A charge (positive) or a credit (negative) outside any bill: a meter-error correction."""
        moment = self._tick()
        ledger.post_adjustment(account=self.accounts[i], amount_fen=fen, effective_date=moment.date(),
                               created_at=moment, description="meter error correction", reason="meter tested slow")
        self.adjusted[i] += fen

    @rule(which=st.integers(min_value=0))
    def waiver(self, which):
        """A supervisor waives what is left of a charged late-payment penalty, with a reason."""
        charged = list(PenaltyCharge.objects.filter(account__in=self.accounts, status=PenaltyCharge.Status.POSTED)
                       .order_by("pk"))
        if not charged:
            return
        charge = charged[which % len(charged)]
        try:
            ledger.waive_penalty(charge=charge, supervisor=self.supervisor, reason="first time late, customer ill",
                                 waived_at=self._tick())
        except ledger.WaiverRefused as refused:
            assert refused.code == "NOTHING_LEFT"  # paid in full: a payment is reversed, not waived

    @rule(which=st.integers(min_value=0))
    def rebill(self, which):
        """A live bill cancelled and its account and period billed again from the readings as they are now."""
        live = list(self._bills().exclude(status=Bill.Status.CANCELLED))
        if not live:
            return
        moment = self._tick()
        billing.rebill(bill=live[which % len(live)], as_of=moment.date(), created_at=moment,
                       reason="customer disputed the bill")

    @rule(which=st.integers(min_value=0),
          decision=st.sampled_from([billing.Decision.RELEASE, billing.Decision.ESTIMATE,
                                    billing.Decision.ORDER_REREAD, billing.Decision.CORRECT_READING]),
          more=st.integers(min_value=0, max_value=300))
    def review(self, which, decision, more):
        """The auditor decides on a held bill: release it, estimate, order a re-read, or correct the reading."""
        held = list(self._bills(status=Bill.Status.HELD))
        if not held:
            return
        bill = held[which % len(held)]
        moment = self._tick()
        value = None
        if decision == billing.Decision.CORRECT_READING:
            previous = ((bill.readings or {}).get("TOTAL") or [{}])[0].get("previous") or {}
            value = Decimal(previous.get("value") or 1000) + more
        try:
            billing.decide(bill=bill, decision=decision, reason="auditor checked the meter", decided_at=moment,
                           as_of=moment.date(), register="TOTAL", value=value)
        except billing.CorrectionRefused:
            pass  # refused with a reason the auditor reads (no history to estimate from, the same value)

    # --- what must hold after every step ---------------------------------------------------------------------

    @invariant()
    def debits_equal_credits_and_the_ledger_check_finds_nothing(self):
        unbalanced = (Posting.objects.filter(entry__account__in=self.accounts).values("entry_id")
                      .annotate(total=Sum("amount_fen")).exclude(total=0))
        assert not unbalanced.exists(), list(unbalanced)
        report = ledger.check_ledger()
        assert report.ok, report.offences

    @invariant()
    def each_balance_is_its_postings_and_its_bills_less_payments_plus_adjustments(self):
        for i, account in enumerate(self.accounts):
            postings = fen_sum(Posting.objects.filter(account=account, ledger_account=LedgerAccount.RECEIVABLE))
            issued = fen_sum(Bill.objects.filter(account=account, status=Bill.Status.ISSUED))
            kept = fen_sum(Payment.objects.filter(account=account, status=Payment.Status.POSTED))
            adjustments = fen_sum(Posting.objects.filter(account=account, ledger_account=LedgerAccount.RECEIVABLE,
                                                         entry__kind=JournalEntry.Kind.ADJUSTMENT))
            penalties = fen_sum(Posting.objects.filter(account=account, ledger_account=LedgerAccount.RECEIVABLE,
                                                       entry__kind__in=[JournalEntry.Kind.PENALTY,
                                                                        JournalEntry.Kind.PENALTY_WAIVER]))
            assert adjustments == self.adjusted[i], account.number
            assert penalties >= 0, account.number
            assert ledger.balance_fen(account) == postings == issued - kept + adjustments + penalties, account.number
        # every request booked once, however often it was sent
        assert Payment.objects.filter(account__in=self.accounts).count() == len(self.payments)

    @invariant()
    def no_issued_bill_open_beside_credit(self):
        with_credit = ledger.accounts_with_credit([a.pk for a in self.accounts])
        for account in self.accounts:
            open_bills = ledger.open_bills(account)
            assert not (account.pk in with_credit and open_bills), (
                account.number, [(b.period, b.amount_fen, fen) for b, fen in open_bills])
            assert not (account.pk in with_credit and ledger.open_penalties(account)), account.number

    @invariant()
    def one_live_bill_per_account_and_period(self):
        twice = (self._bills().exclude(status=Bill.Status.CANCELLED).values("account_id", "period")
                 .annotate(n=Count("id")).filter(n__gt=1))
        assert not twice.exists(), list(twice)


def test_money_stays_balanced_and_credit_settles_open_bills_through_every_kind_of_step(city):
    MoneyMachine.city = city
    run_state_machine_as_test(MoneyMachine, settings=SETTINGS)
