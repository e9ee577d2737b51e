"""Late-payment penalties on the ledger (Art. 98): charged by the payment that clears an overdue bill, accrued to
that day by the same rule the customer screen shows, settled by the rest of that payment or by later ones, waived
by a supervisor of the city with a reason, dropped with a cancelled bill; on the screen, the receipt and the API."""
from datetime import date, datetime, time

import pytest
from django.test import Client

from gridcounter.application.ledger import (
    ReasonRequired,
    WaiverRefused,
    account_arrears,
    balance_fen,
    cancel_bill,
    check_ledger,
    open_penalties,
    post_bill,
    receipt_for,
    take_payment,
    waive_penalty,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import JournalEntry, PenaltyCharge
from gridcounter.domain.business_time import BUSINESS_TZ
from tests.factories import billing

pytestmark = pytest.mark.django_db


def on(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BUSINESS_TZ)


@pytest.fixture
def late(two_cities):
    """A residential account: a 1,000.00-yuan bill due 20 March 2026 with 400.00 paid on 25 March, and a
    200.00-yuan bill due 20 April."""
    account = two_cities.account
    two_cities.overdue = billing.bill(account=account, period="2026-02", amount_fen=100_000)
    two_cities.next = billing.bill(account=account, period="2026-03", amount_fen=20_000)
    for bill in (two_cities.overdue, two_cities.next):
        post_bill(bill=bill, created_at=on(date(2026, 3, 1)))
    pay(two_cities, 40_000, "part", date(2026, 3, 25))
    return two_cities


def pay(city, fen, key, day):
    return take_payment(account=city.account, amount_fen=fen, channel="CASH", hall=city.binjiang, clerk=city.clerk,
                        idempotency_key=key, taken_at=on(day))


def test_the_payment_that_clears_an_overdue_bill_charges_the_penalty_it_was_shown_and_pays_it(late):
    shown = account_arrears(account=late.account, as_of=date(2026, 3, 30))
    assert shown.penalty_fen == 800 and shown.total_due_fen == 60_000 + 20_000 + 800  # what the clerk offers

    result = pay(late, shown.total_due_fen, "in-full", date(2026, 3, 30))

    charge = PenaltyCharge.objects.get(account=late.account)
    assert (charge.bill, charge.amount_fen, charge.accrued_to) == (late.overdue, 800, date(2026, 3, 30))
    assert charge.working == shown.penalty.working  # the same rule, the same working
    assert [(a.kind, a.period, a.amount_fen) for a in result.allocations] == [
        ("BILL", "2026-02", 60_000), ("BILL", "2026-03", 20_000), ("PENALTY", "2026-02", 800)]
    assert balance_fen(late.account) == 0 and open_penalties(late.account) == []
    entry = charge.entry
    assert entry.kind == JournalEntry.Kind.PENALTY and sorted(entry.postings.values_list(
        "ledger_account", "amount_fen")) == [("PENALTY_REVENUE", -800), ("RECEIVABLE", 800)]
    assert AuditEvent.objects.get(action="PENALTY_CHARGED").detail["amount_fen"] == 800
    receipt = receipt_for(result.payment)
    assert [(p.period, p.is_penalty, p.amount_fen, p.settled) for p in receipt.paid_off][-1] == (
        "2026-02", True, 800, True)
    assert check_ledger().ok


def test_paying_only_the_bills_leaves_the_penalty_owed_until_the_next_payment(late):
    pay(late, 80_000, "bills-only", date(2026, 3, 30))

    [(charge, left)] = open_penalties(late.account)
    assert left == 800 and balance_fen(late.account) == 800
    arrears = account_arrears(account=late.account, as_of=date(2026, 4, 2))
    assert arrears.bills == [] and arrears.charged_fen == 800 and arrears.total_due_fen == 800
    assert check_ledger().ok

    later = pay(late, 800, "the-penalty", date(2026, 4, 2))

    assert [(a.kind, a.amount_fen) for a in later.allocations] == [("PENALTY", 800)]
    assert balance_fen(late.account) == 0 and PenaltyCharge.objects.count() == 1  # charged once
    assert check_ledger().ok


def test_a_bill_paid_on_time_is_charged_nothing(late):
    pay(late, 20_000, "on-time", date(2026, 4, 20))  # the April bill on its due date; March's still open
    pay(late, 60_000, "late", date(2026, 3, 20))  # March's on its own due date (a back-dated cash slip)

    assert PenaltyCharge.objects.count() == 0 and balance_fen(late.account) == 0


def test_a_supervisor_waives_what_is_left_with_a_reason_and_only_a_supervisor_of_the_city(late):
    pay(late, 80_300, "bills-and-some", date(2026, 3, 30))
    charge = PenaltyCharge.objects.get()
    assert open_penalties(late.account) == [(charge, 500)]

    for who, code in ((late.clerk, "NOT_SUPERVISOR"), (late.ningbo_supervisor, "OTHER_CITY")):
        with pytest.raises(WaiverRefused) as refused:
            waive_penalty(charge=charge, supervisor=who, reason="hardship", waived_at=on(date(2026, 4, 1)))
        assert refused.value.code == code
    with pytest.raises(ReasonRequired):
        waive_penalty(charge=charge, supervisor=late.supervisor, reason="  ", waived_at=on(date(2026, 4, 1)))

    waived = waive_penalty(charge=charge, supervisor=late.supervisor, reason="首次逾期，客户住院",
                           waived_at=on(date(2026, 4, 1)))

    assert (waived.status, waived.waived_by, waived.waiver_reason) == ("WAIVED", late.supervisor, "首次逾期，客户住院")
    assert sorted(waived.waiver_entry.postings.values_list("ledger_account", "amount_fen")) == [
        ("PENALTY_REVENUE", 500), ("RECEIVABLE", -500)]  # what was paid (300) stays paid
    assert balance_fen(late.account) == 0 and open_penalties(late.account) == []
    event = AuditEvent.objects.get(action="PENALTY_WAIVED")
    assert (event.username, event.reason, event.detail["waived_fen"]) == ("hz.supervisor", "首次逾期，客户住院", 500)
    with pytest.raises(WaiverRefused) as again:
        waive_penalty(charge=charge, supervisor=late.supervisor, reason="again", waived_at=on(date(2026, 4, 2)))
    assert again.value.code == "ALREADY_WAIVED"
    assert check_ledger().ok


def test_a_cancelled_bill_takes_its_penalty_with_it(late):
    pay(late, 80_300, "bills-and-some", date(2026, 3, 30))

    cancel_bill(bill=late.overdue, created_at=on(date(2026, 4, 1)), reason="wrong meter read")
    Bill.objects.filter(pk=late.overdue.pk).update(status=Bill.Status.CANCELLED)

    charge = PenaltyCharge.objects.get()
    assert charge.status == "WAIVED" and "wrong meter read" in charge.waiver_reason
    assert charge.allocations.filter(released_at__isnull=True).count() == 0  # the 300 paid on it is credit again
    assert balance_fen(late.account) == 20_000 - 40_000 - 80_300  # the April bill less every payment
    assert check_ledger().ok


def test_a_company_that_does_not_charge_the_penalty_shows_it_and_charges_nothing(late, settings, tmp_path):
    rules = (settings.GRIDCOUNTER_PENALTY_RULES.read_text(encoding="utf-8")
             .replace('point = "payment"', 'point = "none"'))
    (tmp_path / "penalty.toml").write_text(rules, encoding="utf-8")
    settings.GRIDCOUNTER_PENALTY_RULES = tmp_path / "penalty.toml"

    shown = account_arrears(account=late.account, as_of=date(2026, 3, 30))
    assert shown.penalty_fen == 800 and not shown.penalty_is_charged and shown.total_due_fen == 80_000
    pay(late, 80_000, "in-full", date(2026, 3, 30))

    assert PenaltyCharge.objects.count() == 0 and balance_fen(late.account) == 0


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ("2026-02 电费违约金", "2026-03-30 计收", "减免违约金")),  # noqa: RUF001
    ("en", ("Late-payment penalty on 2026-02", "charged 2026-03-30", "Waive the penalty")),
])
def test_the_customer_screen_shows_the_charged_penalty_and_a_supervisor_waives_it_there(late, language, words):
    pay(late, 80_000, "bills-only", date(2026, 3, 30))
    charge = PenaltyCharge.objects.get()
    url = f"/accounts/{late.account.number}/"
    clerk = Client(HTTP_ACCEPT_LANGUAGE=language)
    clerk.force_login(late.clerk)
    page = clerk.get(url).content.decode()
    assert words[0] in page and words[1] in page and words[2] not in page  # the clerk sees it, cannot waive
    assert clerk.post(f"{url}penalties/{charge.pk}/waive/", {"reason": "x"}).status_code == 403

    supervisor = Client(HTTP_ACCEPT_LANGUAGE=language)
    supervisor.force_login(late.supervisor)
    assert words[2] in supervisor.get(url).content.decode()
    empty = supervisor.post(f"{url}penalties/{charge.pk}/waive/", {"reason": " "}, follow=True)
    assert PenaltyCharge.objects.get().status == "POSTED"
    assert ("减免须填写原因。" if language == "zh-hans" else "A waiver needs a reason.") in empty.content.decode()
    done = supervisor.post(f"{url}penalties/{charge.pk}/waive/", {"reason": "hardship"}, follow=True)

    assert PenaltyCharge.objects.get().status == "WAIVED" and balance_fen(late.account) == 0
    assert "0.00" in done.content.decode()


def test_the_api_lists_the_penalties_charged_and_not_paid(late):
    pay(late, 80_000, "bills-only", date(2026, 3, 30))
    client = Client()
    client.force_login(late.clerk)

    body = client.get(f"/api/accounts/{late.account.number}/ledger").json()

    [charged] = body["charged_penalties"]
    assert (charged["bill_period"], charged["left"], charged["accrued_to"]) == ("2026-02", "8.00", "2026-03-30")
    assert body["penalty_is_charged"] is True and body["total_due"] == "8.00"
    assert [e["kind"] for e in body["entries"]].count("PENALTY") == 1
