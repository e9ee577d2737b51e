"""The counter in a real browser: sign in, find a customer as you type, read the customer screen, languages,
refusals and lockout. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from gridcounter.application.ledger import account_arrears
from gridcounter.data.audit.models import AuditEvent
from gridcounter.domain.billing.periods import shift_period
from gridcounter.domain.ledger import format_fen
from tests.factories.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clerk_finds_a_customer_as_she_types_and_sees_why_the_bill_is_high(
        page: Page, live_server, small_city, artifacts_dir):
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)

    # Given a clerk of the East hall, signed in, on a Chinese counter PC
    expect(page.get_by_role("heading", name="查找客户")).to_be_visible()
    expect(page.get_by_test_id("hall")).to_have_text("城东营业厅")
    # "/" jumps to the search box from anywhere on the page
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()

    # When she types the start of the name, results appear without pressing anything
    page.keyboard.type("王建", delay=60)
    results = page.get_by_test_id("results")
    expect(results).to_contain_text("王建国")
    expect(results).to_contain_text("1100012345")
    expect(results).not_to_contain_text("王五")  # another city's customer
    page.screenshot(path=str(artifacts_dir / "search-as-you-type-zh.png"), full_page=True)

    # And Enter opens the first result: the customer of the West hall (同城通办)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/accounts/1100012345/$"))
    expect(page.get_by_test_id("customer-name")).to_have_text("王建国")

    # Then the chart shows 24 months, each with last year's month beside it
    chart = page.get_by_test_id("usage-chart")
    expect(chart.locator("svg")).to_be_visible()
    expect(chart.locator("g.month")).to_have_count(24)
    expect(chart.locator("rect.this-year")).to_have_count(24)
    # 30 months of bills: the 18 most recent months also have their month of last year
    expect(chart.locator("rect.last-year")).to_have_count(18)
    expect(chart.locator(f'g.month[data-period="{small_city.latest_bill.period}"] rect.last-year')).to_have_count(1)
    # And the latest bill explains itself in Chinese, with its unpaid amount in the balance
    latest = small_city.latest_bill
    bills = page.get_by_test_id("bills")
    expect(bills).to_contain_text(latest.period)
    expect(bills).to_contain_text("比去年同期")
    expect(bills).to_contain_text("已进入第二档电价")
    expect(page.get_by_test_id("balance")).to_contain_text(f"{latest.amount_fen // 100:,}.{latest.amount_fen % 100:02d}")
    # And the reading held for review is flagged at the top
    expect(page.get_by_test_id("review-items")).to_contain_text("用电量是近期日均的 4 倍")
    # And an estimated month is hatched and marked
    estimated_period = shift_period(latest.period, months=-2)
    expect(chart.locator(f'g.month.estimated[data-period="{estimated_period}"]')).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "customer-screen-zh.png"), full_page=True)

    # And she takes the balance in cash: the receipt is shown and nothing is owed any more
    page.get_by_role("button", name="确认收费").click()
    expect(page.get_by_test_id("messages")).to_contain_text("当前余额 0.00 元")
    expect(page.get_by_test_id("balance")).to_contain_text("¥0.00")
    page.screenshot(path=str(artifacts_dir / "payment-booked-zh.png"))


def test_switching_to_english_relabels_the_screen_and_is_remembered(page: Page, live_server, small_city,
                                                                     artifacts_dir):
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")
    expect(page.get_by_role("heading", name="账单")).to_be_visible()

    page.get_by_role("button", name="English").click()

    expect(page).to_have_url(re.compile(r"/accounts/1100012345/$"))
    expect(page.get_by_role("heading", name="Bills", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Monthly consumption")).to_be_visible()
    expect(page.get_by_test_id("bills")).to_contain_text("more than the same period last year")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # remembered: a fresh page load stays in English
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Find a customer")).to_be_visible()
    page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")
    page.screenshot(path=str(artifacts_dir / "customer-screen-en.png"), full_page=True)

    # On a tablet held upright the screen fits the width: nothing to scroll sideways
    page.set_viewport_size({"width": 800, "height": 1200})
    page.reload()
    expect(page.get_by_test_id("usage-chart").locator("svg")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts_dir / "customer-screen-tablet-en.png"), full_page=True)


def test_a_clerk_of_another_city_is_refused_the_customer(page: Page, live_server, small_city, artifacts_dir):
    sign_in(page, base=live_server.url, username="clerk.other", password=small_city.password)

    page.locator("#q").type("王", delay=60)
    results = page.get_by_test_id("results")
    expect(results).to_contain_text("王五")
    expect(results).not_to_contain_text("王建国")

    response = page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="未找到")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("王建国")
    page.screenshot(path=str(artifacts_dir / "other-city-refused.png"), full_page=True)
    assert AuditEvent.objects.filter(action="ACCESS_DENIED", user=small_city.other_clerk,
                                     object_id=str(small_city.account.pk)).exists()


def test_six_wrong_passwords_lock_the_sign_in(page: Page, live_server, small_city, artifacts_dir):
    for _attempt in range(5):
        sign_in(page, base=live_server.url, username="clerk.east", password="not-the-password")
        expect(page.get_by_role("alert")).to_be_visible()
    sign_in(page, base=live_server.url, username="clerk.east", password="not-the-password")

    expect(page.get_by_role("heading", name="登录已锁定")).to_be_visible()
    expect(page.locator("main")).to_contain_text("15 分钟")
    page.screenshot(path=str(artifacts_dir / "locked-out-zh.png"), full_page=True)
    # even the right password does not get in while locked
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    expect(page.get_by_role("heading", name="登录已锁定")).to_be_visible()
    assert AuditEvent.objects.filter(action="SIGN_IN_LOCKED_OUT", username="clerk.east").exists()
    assert AuditEvent.objects.filter(action="SIGN_IN_FAILED", username="clerk.east").count() >= 5


@pytest.mark.parametrize("lang, confirm_words, book_words, change_words", [
    ("zh-hans", "客户已确认", "确认收费", "应找零 68.16 元"),
    ("en", "The customer confirms", "Book payment", "give back 68.16 yuan change")])
def test_cash_shows_the_change_as_the_clerk_types_and_a_far_larger_amount_is_confirmed_first(
        page: Page, live_server, small_city, artifacts_dir, lang, confirm_words, book_words, change_words):
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.locator(f"form.langswitch button[value={lang}]").click()
    expect(page.locator(f"form.langswitch button[value={lang}]")).to_have_attribute("aria-pressed", "true")
    page.goto(f"{live_server.url}/accounts/1100012345/")
    # offered: the balance with the late-payment penalty that paying the overdue bill today charges
    owed = page.locator("#pay-amount").input_value()
    assert owed == format_fen(account_arrears(account=small_city.account, as_of=timezone.localdate()).total_due_fen)
    page.locator("#pay-amount").fill("131.84")  # the customer pays the bill's amount

    # cash: the change appears as the clerk types what the customer hands over
    page.locator("#pay-tendered").fill("200")
    expect(page.get_by_test_id("change")).to_have_text("68.16")
    page.locator("#pay-tendered").fill("100")
    expect(page.get_by_test_id("change")).to_have_text("−31.84")  # not enough: said in red
    page.locator("#pay-tendered").fill("200")
    page.get_by_test_id("payment").screenshot(path=str(artifacts_dir / f"payment-change-{lang}.png"))
    # bank card: no cash tendered, no change
    page.locator("input[name=channel][value=CARD]").check()
    expect(page.locator("#pay-tendered")).to_be_hidden()
    page.locator("input[name=channel][value=CASH]").check()

    # two extra digits: 13184 for 131.84 owed is not booked until the customer confirms it
    page.locator("#pay-amount").fill("13184")
    page.locator("#pay-tendered").fill("")
    page.locator("form[action$='/payments/'] button[type=submit]").click()
    expect(page.get_by_test_id("payment-confirm")).to_be_visible()
    expect(page.get_by_test_id("payment-confirm-button")).to_contain_text(confirm_words)
    expect(page.locator("#pay-amount")).to_have_value("13184")
    page.get_by_test_id("payment").screenshot(path=str(artifacts_dir / f"payment-confirm-{lang}.png"))
    page.locator("#pay-amount").fill("131.84")  # the clerk corrects it instead: booked without asking again
    page.locator("#pay-tendered").fill("200")
    page.get_by_test_id("payment").get_by_role("button", name=book_words, exact=True).click()
    expect(page.locator("body")).to_contain_text(change_words)
