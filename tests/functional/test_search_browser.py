"""Search that finds people, in a real browser, in Chinese and in English: a given name in the search page's box,
pinyin initials in the header's box of the customer screen, and the clerk's recent customers.

Screenshots go to test-artifacts/ (search-<language>-<step>.png).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import registry
from tests.factories.browser import sign_in

TEXT = {
    "zh": {"find": "查找客户", "part": "姓名的一部分或拼音", "recent": "最近办理的客户"},
    "en": {"find": "Find a customer", "part": "part of the name or its pinyin", "recent": "Recent customers"},
}


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_a_clerk_finds_a_customer_by_given_name_and_by_pinyin_initials(page: Page, live_server, small_city,
                                                                       artifacts_dir, language):
    text = TEXT[language]
    registry.account(city=small_city.city, hall=small_city.east, number="1100077001", name="李涵丽",
                     address="示范市朝阳区阳光小区3栋2单元501", building="3栋", phone="13812345678")
    page.goto(f"{live_server.url}/login/")
    if language == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.wait_for_url(f"{live_server.url}/")

    # The given name alone, without the surname, in the search page's box
    expect(page.get_by_role("heading", name=text["find"])).to_be_visible()
    page.locator("#q").press_sequentially("涵丽", delay=40)
    results = page.get_by_test_id("results")
    expect(results).to_contain_text("李涵丽")
    expect(results).to_contain_text(text["part"])
    expect(results).to_contain_text("138****5678")
    expect(results).not_to_contain_text("13812345678")
    page.screenshot(path=str(artifacts_dir / f"search-{language}-given-name.png"), full_page=True)
    page.locator("#q").press("Enter")
    expect(page).to_have_url(re.compile(r"/accounts/1100077001/$"))

    # From the customer screen: the header's box, pinyin initials, "/" to reach it
    page.locator("body").press("/")
    expect(page.locator("#topq")).to_be_focused()
    page.keyboard.type("lhl", delay=40)
    page.screenshot(path=str(artifacts_dir / f"search-{language}-header-box.png"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=lhl$"))
    expect(page.get_by_test_id("results")).to_contain_text("李涵丽")
    expect(page.locator("#q")).to_have_value("lhl")

    # The customer just served is among the recent customers, by the search box
    recent = page.get_by_test_id("recent")
    expect(recent.get_by_role("heading", name=text["recent"])).to_be_visible()
    expect(recent.get_by_role("link", name=re.compile("1100077001"))).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"search-{language}-initials.png"), full_page=True)
