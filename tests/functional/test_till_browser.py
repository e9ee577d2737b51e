"""The till in a real browser, in both languages: payments, the close with a short and its reason, the hand-over
slip, no payment after the close, and the supervisor's sign-off. Screenshots go to test-artifacts/."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from gridcounter.data.ledger.models import Payment, TillDay
from tests.factories.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "zh-hans": {"booked": "已收", "awaiting": "长短款待班长签认", "closed": "不能再收费", "signed": "长短款已签认",
                "previous": "前一天", "none": "当天还没有日结"},
    "en": {"booked": "yuan booked", "awaiting": "over or short awaits sign-off", "closed": "no more payments",
           "signed": "over or short signed off", "previous": "Previous day", "none": "No till closed on this day"},
}


def _choose(page: Page, language: str) -> None:
    page.locator(f"form.langswitch button[value={language}]").click()
    expect(page.locator(f"form.langswitch button[value={language}]")).to_have_attribute("aria-pressed", "true")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_day_at_the_till_from_first_payment_to_a_short_signed_off(page: Page, live_server, small_city,
                                                                     artifacts_dir, language):
    words = WORDS[language]
    page.on("dialog", lambda dialog: dialog.accept())  # the close and the sign-off ask first
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    _choose(page, language)
    account_page = f"{live_server.url}/accounts/{small_city.account.number}/"

    # Given a clerk who takes two payments in cash
    for amount in ("100.00", "20.50"):
        page.goto(account_page)
        page.locator("#pay-amount").fill(amount)
        page.locator('input[name="channel"][value="CASH"]').check()
        page.locator("section.payment button[type=submit]").click()
        expect(page.get_by_test_id("receipt")).to_be_visible()
        expect(page.get_by_test_id("messages")).to_contain_text(words["booked"])

    # When she opens her till, both payments are listed with what was booked in cash
    page.goto(f"{live_server.url}/till/")
    expect(page.get_by_test_id("till-payments").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("booked-cash")).to_have_text("¥120.50")

    # And she counts 1 × 100 and 2 × 10 yuan: 0.50 short, and says why
    page.get_by_test_id("cash-10000").fill("1")
    page.get_by_test_id("cash-1000").fill("2")
    page.locator("#till-reason").fill("找零多付 0.50 元" if language == "zh-hans" else "gave 0.50 too much change")
    page.screenshot(path=str(artifacts_dir / f"till-close-{language}.png"), full_page=True)
    page.get_by_test_id("close-day").click()

    # Then the day is closed with the short awaiting the supervisor
    expect(page.get_by_test_id("difference")).to_have_text("-0.50")
    expect(page.get_by_test_id("close-status")).to_contain_text(words["awaiting"])
    page.locator("#slip").fill("BOC-0001")
    page.locator("[data-testid=till-closed] button[type=submit]").click()
    expect(page.get_by_test_id("slip")).to_have_text("BOC-0001")
    page.screenshot(path=str(artifacts_dir / f"till-closed-{language}.png"), full_page=True)

    # And no payment is accepted after the close
    before = Payment.objects.filter(clerk=small_city.clerk).count()
    page.goto(account_page)
    page.locator("#pay-amount").fill("5.00")
    page.locator("section.payment button[type=submit]").click()
    expect(page.get_by_test_id("payment-error")).to_contain_text(words["closed"])
    assert Payment.objects.filter(clerk=small_city.clerk).count() == before

    # When the supervisor signs the short off on the hall's closes
    page.context.clear_cookies()
    sign_in(page, base=live_server.url, username="supervisor.east", password=small_city.password)
    _choose(page, language)
    page.goto(f"{live_server.url}/supervisor/tills/")
    row = page.locator('tr[data-clerk="clerk.east"]')
    expect(row).to_contain_text("-0.50")
    row.get_by_test_id("sign-off").click()
    expect(page.locator('tr[data-clerk="clerk.east"]').get_by_test_id("close-status")).to_contain_text(words["signed"])
    page.screenshot(path=str(artifacts_dir / f"till-signed-off-{language}.png"), full_page=True)
    assert TillDay.objects.get(clerk=small_city.clerk).signed_off_by == small_city.supervisor

    # The day before had no close; the picker goes there and back to today
    page.get_by_role("link", name=words["previous"]).click()
    expect(page.get_by_test_id("tills")).to_contain_text(words["none"])
    expect(page.locator("#tills-date")).to_have_value(str(small_city.today - timedelta(days=1)))
    page.locator("#tills-date").fill(str(small_city.today))
    page.get_by_test_id("day-pick").get_by_role("button").click()
    expect(page.locator('tr[data-clerk="clerk.east"]').get_by_test_id("close-status")).to_contain_text(words["signed"])
