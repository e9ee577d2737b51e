"""Walks through the counter's main flows in a real browser, in Chinese and in English; each role finds its own
screens from the header; the keyboard reaches everything; the screens fit a tablet and a phone.

Screenshots of each main screen go to test-artifacts/ (walk-<language>-<screen>.png, <screen>-<viewport>.png).
"""
from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from gridcounter.application.ledger import account_arrears
from gridcounter.data.ledger.models import Payment
from gridcounter.data.readings.models import Reading

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
LABELS = {
    "zh": {"find": "查找客户", "review": "审核队列", "route": "我的抄表段", "day": "当日概览",
           "pay": "确认收费", "receipt": "收据", "print": "打印收据（PDF）", "back": "返回客户页面",
           "reading_title": "录入客户报送的示数", "value": "示数", "store": "校验并保存示数",
           "accepted": "已接受", "balance_zero": "当前余额 0.00 元"},
    "en": {"find": "Find a customer", "review": "Review queue", "route": "My route", "day": "Day view",
           "pay": "Book payment", "receipt": "Receipt", "print": "Print receipt (PDF)",
           "back": "Back to the customer", "reading_title": "Enter a reading the customer brought", "value": "Value",
           "store": "Check and store reading", "accepted": "accepted", "balance_zero": "Balance now 0.00 yuan"},
}


def sign_in(page: Page, *, base: str, username: str, password: str, language: str = "zh") -> None:
    page.goto(f"{base}/login/")
    if language == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}/")


def nav_labels(page: Page) -> list[str]:
    return [re.sub(r"\s+[A-Z]$", "", text.strip()) for text in page.locator("nav.mainnav a").all_inner_texts()]


# --- each role finds its screens -------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("who, screens", [
    ("clerk", ["查找客户", "我的日结"]),
    ("auditor", ["查找客户", "审核队列"]),
    ("supervisor", ["查找客户", "审核队列", "我的日结", "到期环节", "当日概览", "日结汇总", "代扣"]),
    ("account_manager", ["查找客户"]),
    ("reader", ["我的抄表段", "工单"]),
    ("installer", ["工单"]),
])
def test_the_header_offers_each_role_its_screens_with_their_shortcut_keys(client, small_city, who, screens):
    client.force_login(getattr(small_city, who))

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    nav = page[page.index("<header"):page.index("</header>")]
    offered = re.findall(r'<a href="[^"]+" accesskey="\w"[^>]*>([^<]+?) <kbd', nav)
    assert offered == screens
    for key in re.findall(r'accesskey="(\w)"', nav):
        assert f'aria-keyshortcuts="Alt+{key.upper()}"' in nav


@pytest.mark.django_db
def test_a_reader_lands_on_a_start_page_that_leads_to_the_route(client, small_city):
    client.force_login(small_city.reader)

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    main = page[page.index("<main"):]
    assert 'data-testid="my-screens"' in main and 'href="/reader/"' in main and "Alt+M" in main


@pytest.mark.django_db
def test_an_installer_lands_on_the_work_orders(client, small_city):
    client.force_login(small_city.installer)

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Work orders" in page and 'data-testid="no-work"' in page and "Nothing is waiting for you." in page


# --- the clerk's day, in both languages ------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_clerk_serves_a_customer_of_another_hall_from_search_to_receipt(
        page: Page, live_server, small_city, artifacts_dir, language):
    text = LABELS[language]
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password, language=language)

    # The search box has the focus as the page opens: the clerk just types
    expect(page.get_by_role("heading", name=text["find"])).to_be_visible()
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("13800138", delay=40)
    expect(page.get_by_test_id("results")).to_contain_text("王建国")
    page.screenshot(path=str(artifacts_dir / f"walk-{language}-search.png"), full_page=True)
    page.keyboard.press("ArrowDown")
    expect(page.locator("#results a.result").first).to_be_focused()
    # the focused result is outlined for the keyboard user
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/accounts/1100012345/$"))
    expect(page.get_by_test_id("customer-name")).to_have_text("王建国")
    page.screenshot(path=str(artifacts_dir / f"walk-{language}-customer.png"), full_page=True)

    # Each bill prints as a PDF, in either language
    pdf = page.request.get(live_server.url + page.get_by_test_id("bill-pdf").first.get_by_role("link", name="English")
                           .get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"

    # She takes what the customer owes by card, the late-payment penalty included; the amount is already filled in
    fen = account_arrears(account=small_city.account, as_of=timezone.localdate()).total_due_fen
    expect(page.locator("#pay-amount")).to_have_value(f"{fen // 100}.{fen % 100:02d}")
    page.locator('input[name="channel"][value="CARD"]').check()
    page.get_by_role("button", name=text["pay"]).click()
    expect(page.get_by_test_id("receipt")).to_be_visible()
    expect(page.get_by_test_id("messages")).to_contain_text(text["balance_zero"])
    payment = Payment.objects.get(account=small_city.account, amount_fen=fen)
    expect(page.get_by_test_id("receipt-number")).to_have_text(payment.receipt_number)
    assert (payment.hall_id, payment.channel) == (small_city.east.pk, "CARD")
    page.screenshot(path=str(artifacts_dir / f"walk-{language}-receipt.png"), full_page=True)
    receipt = page.request.get(live_server.url + page.get_by_test_id("receipt-pdf").get_attribute("href"))
    assert receipt.status == 200 and receipt.headers["content-type"] == "application/pdf"

    # Back on the customer screen she types in the reading the customer brought
    page.get_by_role("link", name=text["back"]).click()
    card = page.get_by_test_id("reading-entry")
    expect(card.get_by_role("heading")).to_have_text(text["reading_title"])
    card.get_by_label(text["value"], exact=True).fill("5020")
    card.get_by_role("button", name=text["store"]).click()
    expect(page.get_by_test_id("reading-outcome")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"walk-{language}-reading.png"), full_page=True)
    assert Reading.objects.filter(account=small_city.account, source="CUSTOMER", value=5020).count() == 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_auditor_moves_between_screens_with_the_keyboard(page: Page, live_server, small_city, artifacts_dir):
    sign_in(page, base=live_server.url, username="auditor.east", password=small_city.password)

    # Alt+R opens the review queue
    page.keyboard.press("Alt+r")
    expect(page).to_have_url(re.compile(r"/review/$"))
    expect(page.get_by_role("heading", name="审核队列")).to_be_visible()
    # Tab from the top reaches the skip link first, and it shows, outlined, when focused
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    assert page.evaluate("document.activeElement.getBoundingClientRect().left >= 0")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.screenshot(path=str(artifacts_dir / "keyboard-skip-link-zh.png"))
    # Alt+F comes back to the search, ready to type
    page.keyboard.press("Alt+f")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#q")).to_be_focused()


# --- tablet and phone ------------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport_name, viewport", [("tablet", TABLET), ("phone", PHONE)])
def test_the_main_screens_fit_a_tablet_and_a_phone(browser: Browser, live_server, small_city, artifacts_dir,
                                                     viewport_name, viewport):
    context = browser.new_context(viewport=viewport, locale="zh-CN", has_touch=viewport_name == "phone")
    page = context.new_page()
    try:
        sign_in(page, base=live_server.url, username="supervisor.east", password=small_city.password)
        for name, path in (("search", "/search/?q=王"), ("customer", "/accounts/1100012345/"),
                           ("review-queue", "/review/"), ("supervisor-day", "/supervisor/day/")):
            page.goto(f"{live_server.url}{path}")
            expect(page.locator("nav.mainnav")).to_be_visible()
            expect(page.locator("main h1").first).to_be_visible()
            # nothing wider than the screen: no sideways scrolling of the whole page
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (name, viewport)
            page.screenshot(path=str(artifacts_dir / f"{name}-{viewport_name}-zh.png"), full_page=True)
    finally:
        context.close()
