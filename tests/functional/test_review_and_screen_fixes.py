"""What the walkthrough found on the review queue, the customer screen, the day view and the API docs: each as the
user meets it (HTTP answers read as text; the real browser for layout, keys and pages with no network)."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from gridcounter.data.billing.models import Bill
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Meter
from tests.factories import readings
from tests.factories.browser import sign_in

HTMX = {"HTTP_HX_REQUEST": "true"}


def _decide(client, bill, language, **data):
    return client.post(reverse("review_decide", args=[bill.pk]), data, HTTP_ACCEPT_LANGUAGE=language,
                       **HTMX).content.decode()


@pytest.fixture
def held_duplicate(review_routes):
    """RV-E's lower-reading account read twice more on 2025-03-15 at the same moment (1400 and 1450): DUPLICATE."""
    account = review_routes.accounts[("RV-E", "lower")]
    held = review_routes.held[("RV-E", "lower")]
    dup = [{"code": "DUPLICATE", "numbers": {"other_value": "1450", "value": "1400"}}]
    first = Reading.objects.get(account=account, read_date=date(2025, 3, 15))
    Reading.objects.filter(pk=first.pk).update(value=1400, codes=["DUPLICATE"], findings=dup)
    readings.read(first.meter, account, date(2025, 3, 15), 1450, created_at=timezone.now(), status="HELD",
                  codes=["DUPLICATE"], findings=dup, read_at=first.read_at)
    Bill.objects.filter(pk=held.pk).update(hold_codes=["DUPLICATE"])
    return held


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1400", "1450"])
def test_the_auditor_corrects_a_duplicate_with_either_value_read(client, review_routes, held_duplicate, value):
    client.force_login(review_routes.world.auditor)

    page = _decide(client, held_duplicate, "zh-hans", decision="CORRECT_READING", value=value, reason="现场核实")

    assert "示数已更正：原账单已作废并重新计费。" in page
    correction = Reading.objects.get(account=held_duplicate.account, source="CORRECTION")
    assert correction.value == int(value) and correction.status == "ACCEPTED"


@pytest.mark.django_db
def test_decision_errors_are_in_the_users_language_and_name_the_field(client, review_routes):
    client.force_login(review_routes.world.auditor)
    bill = review_routes.held[("RV-E", "lower")]

    zh = _decide(client, bill, "zh-hans", decision="CORRECT_READING", value="abc", reason="看错")
    empty = _decide(client, bill, "zh-hans", decision="CORRECT_READING", value="", reason="看错")
    en = _decide(client, bill, "en", decision="CORRECT_READING", value="abc", reason="misread")

    assert "更正示数：“abc”不是数字。" in zh and "value:" not in zh and "not a number" not in zh
    assert "更正示数：请填写表上读到的示数。" in empty and "needs a value" not in empty
    assert "Corrected reading: “abc” is not a number." in en and "value:" not in en


@pytest.mark.django_db
@pytest.mark.parametrize("language, said, not_said", [("zh-hans", "示数“abc”不是数字", "（value）"),
                                                      ("en", "Reading not stored. The reading “abc” is not a number",
                                                       "value “abc”")])
def test_a_counter_reading_that_is_not_a_number_is_refused_in_words_without_the_field_code(client, small_city,
                                                                                         language, said, not_said):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")
    data = {"meter": meter.asset_number, "register": "TOTAL", "value": "abc",
            "read_date": timezone.localdate().isoformat(), "client_key": f"t-abc-{language}"}

    page = client.post(reverse("enter_reading", args=[small_city.neighbour.number]), data,
                       HTTP_ACCEPT_LANGUAGE=language, **HTMX).content.decode()

    assert said in page and not_said not in page


@pytest.mark.django_db
def test_the_queue_rows_open_button_says_open_not_the_status(client, review_routes):
    client.force_login(review_routes.world.auditor)

    page = client.get(reverse("review_queue"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert 'class="open-bill"' in page and ">展开</button>" in page and ">未处理</button>" not in page


@pytest.mark.django_db
def test_the_day_views_total_row_reads_heji(client, small_city):
    client.force_login(small_city.supervisor)
    earlier = max(p for p in small_city.bills if small_city.bills[p] != small_city.latest_bill)
    paid_on = small_city.bills[earlier].due_date.isoformat()  # the customer paid that bill on its due date

    page = client.get(reverse("supervisor_day"), {"date": paid_on}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert '<tfoot><tr><th scope="row">合计</th>' in page


@pytest.mark.django_db
def test_every_page_has_a_content_security_policy_and_customer_pages_are_not_stored(client, review_routes):
    world = review_routes.world
    client.force_login(world.clerk)
    account = client.get(reverse("account", args=[world.account.number]))
    bill_pdf = client.get(reverse("bill_pdf", args=[world.latest_bill.pk]))
    client.force_login(world.auditor)
    queue = client.get(reverse("review_queue"))
    client.logout()
    login = client.get(reverse("login"))

    for response in (account, bill_pdf, queue, login):
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-eval" not in policy
    for response in (account, bill_pdf, queue):
        assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_the_api_docs_page_loads_swagger_ui_from_this_site(client, small_city):
    client.force_login(small_city.admin)

    page = client.get("/api/docs").content.decode()

    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()


# --- in the browser ------------------------------------------------------------------------------------------

def _only_this_site(page: Page, base: str) -> list[str]:
    """Refuse every request to another host (as on an intranet); return the list they are noted in."""
    host = urlsplit(base).netloc
    refused: list[str] = []

    def route(r):
        if urlsplit(r.request.url).netloc != host and not r.request.url.startswith("data:"):
            refused.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    return refused


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_with_no_network_under_the_policy(page: Page, live_server, small_city, artifacts_dir):
    refused = _only_this_site(page, live_server.url)
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, base=live_server.url, username="admin", password=small_city.password)
    page.wait_for_url(f"{live_server.url}/**")

    page.goto(f"{live_server.url}/api/docs")

    expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "api-docs-offline.png"))
    assert refused == [] and blocked == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("en", 1366), ("zh-hans", 1024), ("zh-hans", 1280)])
def test_the_customer_screen_has_no_sideways_scroll(page: Page, live_server, small_city, artifacts_dir,
                                                     language, width):
    bill = small_city.latest_bill  # an explanation as long as the bill run writes for an estimate caught up
    bill.explanation = [*(bill.explanation or []), {
        "code": "CATCH_UP",
        "text_en": "The reading of 2026-09-04 was estimated from your recent average use; this bill settles the "
                   "difference between that estimate and the actual reading taken on 2026-11-04 by the meter reader.",
        "text_zh": "2026-09-04 的示数按您近期的平均用电估算；本期账单结清该估算与抄表员 2026-11-04 实际抄见示数之间的差额，"
                   "差额电量按本期电价计费，已在上表中列明。"}]
    bill.save(update_fields=["explanation"])
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")

    expect(page.locator("html")).to_have_attribute("lang", language)
    page.screenshot(path=str(artifacts_dir / f"customer-{language}-{width}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the {width}px window"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_slash_in_the_empty_search_box_is_not_typed(page: Page, live_server, small_city):
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.wait_for_url(f"{live_server.url}/")
    search = page.locator("#q")

    page.keyboard.press("/")
    expect(search).to_be_focused()
    page.keyboard.press("/")
    page.keyboard.type("3/2")

    expect(search).to_have_value("3/2")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_decision_the_server_fails_on_is_said_in_the_row(page: Page, live_server, review_routes, artifacts_dir):
    world = review_routes.world
    bill = review_routes.held[("RV-E", "lower")]
    sign_in(page, base=live_server.url, username="auditor.east", password=world.password)
    page.wait_for_url(f"{live_server.url}/")
    # the server answers the decision with an error (as it did for a duplicate's correction)
    page.route(f"**/review/bills/{bill.pk}/decide/", lambda r: r.fulfill(status=500, body="Server Error"))
    page.goto(f"{live_server.url}/review/")
    row = page.locator(f"#bill-{bill.pk}")
    row.get_by_role("button", name="展开").click()
    form = page.locator(f"#bill-{bill.pk}").get_by_test_id("decide-form")
    form.locator("input[name=decision][value=RELEASE]").check()
    form.locator("[name=reason]").fill("核实无误")
    form.locator("button[type=submit]").click()

    failed = page.locator(f"#bill-{bill.pk}").get_by_test_id("request-failed")
    expect(failed).to_contain_text("服务器未能完成此操作")
    expect(failed).to_contain_text("HTTP 500")
    page.locator(f"#bill-{bill.pk}").screenshot(path=str(artifacts_dir / "review-server-error-zh.png"))
