"""A residential new connection walked in a real browser, in Chinese and in English: the clerk opens it from the
customer screen and keeps the documents, the installer surveys, installs and energises, the reader signs the meter
off and takes the first reading on site. Screenshots of each screen go to test-artifacts/ (connection-<lang>-*.png).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from gridcounter.data.readings.models import Reading
from gridcounter.data.service.models import ServiceRequest
from tests.factories import photos, service

TEXT = {
    "zh": {"language": "中文（简体）", "new": "新建申请", "open": "受理申请", "work": "工单", "done": "已办结",
           "steps": ["受理申请", "现场勘查", "答复供电方案", "装表", "抄表员签认", "立户", "送电", "现场首次抄表"],
           "waiting": "尚待：", "kept": "已保存", "design": "设计文件审核"},
    "en": {"language": "English", "new": "New request", "open": "Open the request", "work": "Work orders",
           "done": "Completed",
           "steps": ["Application accepted", "Site survey", "Supply plan", "Meter installation",
                     "Meter reader's sign-off", "Account created", "Energised", "First reading on site"],
           "waiting": "Waiting for:", "kept": "kept", "design": "Design review"},
}


def signed_in(browser: Browser, *, base: str, username: str, password: str, language: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    if language == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}/")
    return context, page


def complete(page, text, step_index, **fields):
    """Fill the current step's form and send it; the page says the step is done."""
    form = page.get_by_test_id("step-form")
    expect(form.get_by_role("heading")).to_have_text(text["steps"][step_index])
    for name, value in fields.items():
        field = form.locator(f"#{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button").click()
    expect(page.get_by_test_id("messages")).to_contain_text(text["steps"][step_index])
    expect(page.locator('li.step[data-step]').nth(step_index)).to_have_attribute("data-state", "DONE")


def open_from_work_orders(page, base, number):
    page.goto(f"{base}/work-orders/")
    page.get_by_role("link", name=number).click()
    expect(page.get_by_test_id("request-number")).to_have_text(number)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_residential_connection_from_application_to_the_first_reading(
        browser: Browser, live_server, small_city, photo_media, artifacts_dir, tmp_path, language):
    text, base, password = TEXT[language], live_server.url, small_city.password
    shot = lambda page, name: page.screenshot(path=str(artifacts_dir / f"connection-{language}-{name}.png"),  # noqa: E731
                                             full_page=True)
    clerk_context, clerk = signed_in(browser, base=base, username="clerk.east", password=password, language=language)

    # The clerk starts the request from the customer screen; the form shows what each step needs
    clerk.goto(f"{base}/accounts/{small_city.account.number}/")
    expect(clerk.get_by_test_id("no-requests")).to_be_visible()
    clerk.get_by_test_id("new-request-button").click()
    expect(clerk.get_by_test_id("checklist")).to_contain_text(text["steps"][0])
    # choosing a type opens its checklist (htmx); the high-voltage one has the design review
    clerk.locator('input[value="NEW_CONNECTION_HIGH_VOLTAGE"]').check()
    expect(clerk.locator("#checklist details[open]")).to_contain_text(text["design"])
    clerk.locator('input[value="NEW_CONNECTION_RESIDENTIAL"]').check()
    expect(clerk.locator("#checklist details[open]")).not_to_contain_text(text["design"])
    expect(clerk.locator("#applicant_name")).to_have_value("王建国")
    clerk.locator("#address").fill("示范市东城区和平里二巷9号")
    shot(clerk, "new")
    clerk.get_by_role("button", name=text["open"]).click()
    expect(clerk).to_have_url(re.compile(r"/requests/DEMO-\d{8}-0001/$"))
    number = clerk.get_by_test_id("request-number").inner_text()
    # nothing can be accepted before the documents are in: the page says what is missing
    expect(clerk.get_by_test_id("blocker")).to_contain_text(text["waiting"])

    # ID plus a signed promise (一证受理)
    id_scan, promise = tmp_path / "id.pdf", tmp_path / "promise.png"
    id_scan.write_bytes(service.pdf("ID"))
    promise.write_bytes(photos.png(text="promise"))
    for kind, path in (("ID", id_scan), ("PROMISE", promise)):
        upload = clerk.get_by_test_id("upload")
        upload.locator("#kind").select_option(kind)
        upload.locator("#file").set_input_files(str(path))
        upload.locator("button[type=submit]").click()
        expect(clerk.get_by_test_id("messages")).to_contain_text(text["kept"])
    expect(clerk.get_by_test_id("document")).to_have_count(2)
    expect(clerk.get_by_test_id("blocker")).to_have_count(0)
    shot(clerk, "documents")
    complete(clerk, text, 0, note="材料齐全")

    installer_context, installer = signed_in(browser, base=base, username="installer.east", password=password,
                                             language=language)
    reader_context, reader = signed_in(browser, base=base, username="reader.east", password=password,
                                       language=language)

    # The installer's home lists the survey due
    expect(installer.get_by_role("heading", name=text["work"])).to_be_visible()
    expect(installer.get_by_test_id("work-orders")).to_contain_text(number)
    shot(installer, "work-orders")
    # on the installer's phone the list fits the screen, one card per request
    installer.set_viewport_size({"width": 390, "height": 844})
    expect(installer.get_by_test_id("work-orders")).to_contain_text(number)
    assert installer.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(installer, "work-orders-phone")
    open_from_work_orders(installer, base, number)
    complete(installer, text, 1, note="现场具备接电条件")

    clerk.reload()
    complete(clerk, text, 2)

    open_from_work_orders(installer, base, number)
    complete(installer, text, 3, meter="XN2026000777", reading="0")
    shot(installer, "installed")

    open_from_work_orders(reader, base, number)
    complete(reader, text, 4, meter="XN2026000777")

    clerk.reload()
    complete(clerk, text, 5, tariff_id="BJ-RES-LT1KV")

    open_from_work_orders(installer, base, number)
    complete(installer, text, 6)

    open_from_work_orders(reader, base, number)
    complete(reader, text, 7, reading="2")

    # Every step done, by whom and when; the new account is linked from the request
    clerk.reload()
    expect(clerk.get_by_test_id("request-state")).to_have_text(text["done"])
    expect(clerk.locator("li.step.done")).to_have_count(8)
    expect(clerk.get_by_test_id("step-form")).to_have_count(0)
    shot(clerk, "done")
    request = ServiceRequest.objects.get(number=number)
    assert request.account.status == "ACTIVE" and request.account.tariff_id == "BJ-RES-LT1KV"
    assert Reading.objects.filter(account=request.account, value=2, source="HANDHELD").count() == 1
    clerk.get_by_test_id("new-account").click()
    expect(clerk.get_by_test_id("account-number")).to_have_text(request.account.number)
    expect(clerk.get_by_test_id("service-requests")).to_contain_text(number)
    shot(clerk, "new-account")
    for context in (clerk_context, installer_context, reader_context):
        context.close()
