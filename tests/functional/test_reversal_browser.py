"""Reversal in a real browser, in both languages: the clerk takes a payment (cash tendered and change on the
receipt) and reverses it through the confirm step; another clerk's payment is refused with the reason; a supervisor
reverses an older one with a reason. Screenshots go to test-artifacts/."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from gridcounter.application.ledger import business_date, close_day, take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Role
from tests.factories import org
from tests.factories.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "zh-hans": {"received": "实收现金", "change": "找零", "reason_needed": "请说明冲正的原因", "reversed": "已冲正",
                "not_yours": "其他收费员", "other": "柜台重复收费，客户已退回收据"},
    "en": {"received": "Cash received", "change": "Change given", "reason_needed": "say why the payment is taken back",
           "reversed": "reversed", "not_yours": "another clerk took it", "other": "booked twice, receipt returned"},
}


def _choose(page: Page, language: str) -> None:
    page.locator(f"form.langswitch button[value={language}]").click()
    expect(page.locator(f"form.langswitch button[value={language}]")).to_have_attribute("aria-pressed", "true")


def _headings_on_one_line(table) -> bool:
    """No heading of the table is broken over lines (a squeezed table stacks 收费员 one character a line)."""
    lines = table.locator("thead th").evaluate_all("""cells => cells.map(c => {
        const r = document.createRange(); r.selectNodeContents(c);
        return new Set([...r.getClientRects()].map(box => Math.round(box.top))).size; })""")
    return max(lines) == 1


def _pay_as(world, clerk, *, key: str, fen: int, at=None) -> Payment:
    with acting_as(Actor(user=clerk, hall=clerk.hall, channel="WEB")):
        return take_payment(account=world.account, amount_fen=fen, channel="CASH", hall=clerk.hall, clerk=clerk,
                            idempotency_key=key, taken_at=at or timezone.now(), at_counter=True).payment


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_clerk_reverses_her_own_payment_through_the_confirm_step_and_not_another_clerks(
        page: Page, live_server, small_city, artifacts_dir, language):
    words = WORDS[language]
    colleague = org.staff("clerk.east2", hall=small_city.east, roles=(Role.Code.CLERK,), display_name="王柜员")
    theirs = _pay_as(small_city, colleague, key=f"colleague-{language}", fen=3000)
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    _choose(page, language)

    # Given a clerk who takes 131.84 yuan in cash from a customer handing over 200
    page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")
    page.locator("#pay-amount").fill("131.84")
    page.locator('input[name="channel"][value="CASH"]').check()
    page.locator("#pay-tendered").fill("200")
    page.locator("section.payment button[type=submit]").click()
    expect(page.get_by_test_id("receipt")).to_be_visible()
    # the receipt keeps what was handed over and the change
    expect(page.get_by_test_id("receipt")).to_contain_text(words["received"])
    expect(page.get_by_test_id("tendered")).to_have_text("¥200.00")
    expect(page.get_by_test_id("change-given")).to_have_text("¥68.16")
    assert _headings_on_one_line(page.get_by_test_id("paid-off"))  # the bills paid, their status in one line
    page.screenshot(path=str(artifacts_dir / f"reversal-receipt-{language}.png"), full_page=True)
    receipt = page.get_by_test_id("receipt-number").inner_text()
    mine = Payment.objects.get(receipt_number=receipt)
    assert mine.cash_tendered_fen == 20000

    # When she opens her till and asks to reverse it, the confirm step names what is reversed (htmx, in place)
    page.goto(f"{live_server.url}/till/")
    page.get_by_test_id(f"reverse-{receipt}").click()
    confirm = page.get_by_test_id("reverse-confirm")
    expect(confirm.get_by_test_id("reverse-receipt")).to_have_text(receipt)
    expect(confirm.get_by_test_id("reverse-amount")).to_have_text("¥131.84")
    expect(confirm.get_by_test_id("reverse-customer")).to_have_text(small_city.account.customer.name)
    expect(confirm.get_by_test_id("reverse-account")).to_have_text(small_city.account.number)
    assert Payment.objects.get(pk=mine.pk).status == "POSTED"  # opening the step changes nothing
    page.screenshot(path=str(artifacts_dir / f"reversal-confirm-inline-{language}.png"), full_page=True)

    # And she confirms without a reason: asked for one, nothing reversed
    confirm.get_by_test_id("reverse-confirm-button").click()
    expect(page.get_by_test_id("reverse-error")).to_contain_text(words["reason_needed"])
    assert Payment.objects.get(pk=mine.pk).status == "POSTED"

    # Then with "wrong amount" picked it is reversed, marked on her till and out of the cash expected
    page.get_by_test_id("reason-WRONG_AMOUNT").check()
    page.screenshot(path=str(artifacts_dir / f"reversal-confirm-{language}.png"), full_page=True)
    page.get_by_test_id("reverse-confirm-button").click()
    expect(page.get_by_test_id(f"reversed-{receipt}")).to_be_visible()
    expect(page.get_by_test_id("booked-cash")).to_have_text("¥0.00")
    page.screenshot(path=str(artifacts_dir / f"reversal-till-{language}.png"), full_page=True)
    event = AuditEvent.objects.get(action="PAYMENT_REVERSED", object_id=str(mine.pk))
    assert event.detail["clerk_own_same_day"] is True and event.username == "clerk.east"

    # When she tries her colleague's payment of today from the customer screen, she is told why not
    page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")
    page.get_by_test_id(f"reverse-{theirs.receipt_number}").click()
    expect(page.get_by_test_id("reverse-refused")).to_contain_text(words["not_yours"])
    expect(page.get_by_test_id("reverse-form")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / f"reversal-refused-{language}.png"), full_page=True)
    assert Payment.objects.get(pk=theirs.pk).status == "POSTED"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_supervisor_reverses_an_older_payment_with_a_reason(page: Page, live_server, small_city, artifacts_dir,
                                                              language):
    words = WORDS[language]
    two_days_ago = timezone.now() - timedelta(days=2)
    older = _pay_as(small_city, small_city.clerk, key=f"older-{language}", fen=4500, at=two_days_ago)
    closed = close_day(clerk=small_city.clerk, hall=small_city.east, day=business_date(two_days_ago),
                       cash_counted={2000: 2, 500: 1}, non_cash={}, reason="", closed_at=two_days_ago)
    sign_in(page, base=live_server.url, username="supervisor.east", password=small_city.password)
    _choose(page, language)

    # Given the confirm step opened without JavaScript's help (its own page)
    page.goto(f"{live_server.url}/payments/{older.pk}/reverse/")
    expect(page.get_by_test_id("reverse-receipt")).to_have_text(older.receipt_number)

    # When the supervisor picks "other" and says why
    page.get_by_test_id("reason-OTHER").check()
    page.get_by_test_id("reverse-reason").fill(words["other"])
    page.screenshot(path=str(artifacts_dir / f"reversal-supervisor-{language}.png"), full_page=True)
    page.get_by_test_id("reverse-confirm-button").click()

    # Then she is back on the customer screen, the payment reversed with her reason
    expect(page.get_by_test_id("messages")).to_contain_text(older.receipt_number)
    older.refresh_from_db()
    assert older.status == "REVERSED" and older.reversal.reason == words["other"]
    assert older.reversal.kind == "SUPERVISOR" and older.reversal.after_close
    closed.refresh_from_db()
    assert closed.booked == {"CASH": 4500}  # the closed day is left as it was

    # And her own till of today shows it as a reversal after an earlier day's close, out of the cash expected
    page.goto(f"{live_server.url}/till/")
    expect(page.get_by_test_id("post-close")).to_contain_text(older.receipt_number)
    expect(page.get_by_test_id("expected-cash")).to_have_text("−¥45.00")
    page.screenshot(path=str(artifacts_dir / f"reversal-post-close-till-{language}.png"), full_page=True)
    page.goto(f"{live_server.url}/supervisor/tills/")
    expect(page.get_by_test_id("day-reversals")).to_contain_text(older.receipt_number)
    assert _headings_on_one_line(page.get_by_test_id("day-reversals"))
    page.screenshot(path=str(artifacts_dir / f"reversal-day-list-{language}.png"), full_page=True)
