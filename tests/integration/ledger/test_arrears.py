"""What an account owes on a day: open bills with days overdue, the late-payment penalty accrued (domain.penalty,
with a part payment lowering the remainder from the day after it), and the total due; on the customer screen in
both languages and through the API."""
from datetime import date, datetime, time

import pytest
from django.test import Client

from gridcounter.application.ledger import account_arrears, post_bill, take_payment
from gridcounter.domain.business_time import BUSINESS_TZ
from tests.factories import billing

pytestmark = pytest.mark.django_db
PAID = datetime.combine(date(2026, 3, 25), time(10, 0), tzinfo=BUSINESS_TZ)


@pytest.fixture
def owing(two_cities):
    """A residential account with a 1,000.00-yuan bill due 20 March 2026, 400.00 paid on 25 March, and a bill of
    the next month not yet due."""
    account = two_cities.account
    two_cities.overdue = billing.bill(account=account, period="2026-02", amount_fen=100_000)  # due 2026-03-20
    two_cities.next = billing.bill(account=account, period="2026-03", amount_fen=20_000)  # due 2026-04-20
    for bill in (two_cities.overdue, two_cities.next):
        post_bill(bill=bill, created_at=PAID)
    take_payment(account=account, amount_fen=40_000, channel="CASH", hall=two_cities.binjiang,
                 clerk=two_cities.clerk, idempotency_key="part-1", taken_at=PAID)
    return two_cities


def test_overdue_bills_their_days_and_the_penalty_accrued_to_the_day(owing):
    arrears = account_arrears(account=owing.account, as_of=date(2026, 3, 30))

    assert [(item.bill.period, item.outstanding_fen, item.days_overdue) for item in arrears.bills] == [
        ("2026-02", 60_000, 10), ("2026-03", 20_000, 0)]
    # 1‰ a day: 21–25 March on 1,000.00 (the day of the part payment still counts), 26–30 March on 600.00
    assert arrears.penalty_fen == 5 * 100 + 5 * 60 == 800
    assert arrears.overdue_fen == 60_000 and arrears.total_due_fen == 60_000 + 20_000 + 800
    steps = [step["step"] for step in arrears.penalty.working]
    assert steps.count("SEGMENT") == 2 and "ROUNDED" in steps
    assert any("2026-02" in step["text_zh"] for step in arrears.penalty.working)


def test_nothing_overdue_means_no_penalty(owing):
    arrears = account_arrears(account=owing.account, as_of=date(2026, 3, 20))  # the due date itself

    assert arrears.penalty is None and arrears.penalty_fen == 0
    assert [item.days_overdue for item in arrears.bills] == [0, 0]
    assert arrears.total_due_fen == 80_000


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ("逾期未缴电费", "逾期天数", "电费违约金", "今日缴清应付合计", "违约金计算过程")),
    ("en", ("Overdue bills", "Days overdue", "Late-payment penalty", "Total due if paid today",
            "How the penalty is worked out"))])
def test_the_customer_screen_shows_what_is_overdue_the_penalty_and_the_total(owing, language, words):
    from django.utils import timezone

    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(owing.clerk)
    page = client.get(f"/accounts/{owing.account.number}/", HTTP_ACCEPT_LANGUAGE=language)
    text = page.content.decode()
    arrears = page.context["screen"].arrears

    assert page.status_code == 200
    assert all(word in text for word in words), [word for word in words if word not in text]
    days = (timezone.localdate() - date(2026, 3, 20)).days
    assert arrears.bills[0].days_overdue == days and f">{days}<" in text
    assert arrears.penalty_fen > 0 and f"{arrears.total_due_fen / 100:,.2f}" in text


def test_the_api_gives_days_overdue_the_penalty_with_its_working_and_the_total(owing):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owing.clerk)
    data = client.get(f"/api/accounts/{owing.account.number}/ledger").json()
    arrears = account_arrears(account=owing.account, as_of=date.fromisoformat(data["as_of"]))

    assert [bill["days_overdue"] for bill in data["open_bills"]] == [item.days_overdue for item in arrears.bills]
    assert data["penalty_fen"] == arrears.penalty_fen > 0
    assert data["total_due_fen"] == 80_000 + arrears.penalty_fen
    assert data["penalty_working"][0]["step"] == "SEGMENT" and data["penalty_working"][0]["text_en"]
    assert data["penalty_working"] == arrears.penalty.working  # the numbers of each step too
