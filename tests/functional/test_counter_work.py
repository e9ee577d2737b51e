"""The counter's other work: a reading the customer brings, the auditor's review queue, the supervisor's day.

HTTP tests (django test client) check what each answer says; browser tests walk the same screens as the roles
that use them, in Chinese and in English, and save screenshots under test-artifacts/.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from gridcounter.application.ledger import take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill, ReviewDecision
from gridcounter.data.readings.models import Reading, SiteVisitOrder
from gridcounter.data.registry.models import Account, Meter

HTMX = {"HTTP_HX_REQUEST": "true"}


def sign_in(page: Page, *, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}/")


def to_english(page: Page) -> None:
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


# --- a reading the customer brings to the counter --------------------------------------------------------------

def _enter(client, account, *, meter, value, read_date=None, htmx=True, language="zh-hans", confirmed=False):
    data = {"meter": meter.asset_number, "register": "TOTAL", "value": value,
            "read_date": (read_date or timezone.localdate()).isoformat(), "client_key": f"t-{meter.pk}-{value}"}
    if confirmed:
        data["confirmed"] = "1"
    extra = {**(HTMX if htmx else {}), "HTTP_ACCEPT_LANGUAGE": language}
    return client.post(reverse("enter_reading", args=[account.number]), data, **extra)


@pytest.mark.django_db
def test_a_reading_the_customer_brings_is_accepted_and_shown_at_once(client, small_city):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")  # the neighbour's meter: 400 a month ago

    response = _enter(client, small_city.neighbour, meter=meter, value="520")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"{timezone.localdate().isoformat()} 的示数 520 已接受" in page
    reading = Reading.objects.get(meter=meter, value=Decimal(520))
    assert (reading.source, reading.status, reading.codes) == ("CUSTOMER", "ACCEPTED", [])
    assert AuditEvent.objects.filter(object_id=str(reading.pk), user=small_city.clerk).exists()


@pytest.mark.django_db
def test_a_reading_lower_than_the_last_is_confirmed_with_the_customer_then_held_with_a_plain_reason(
        client, small_city):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")

    asked = _enter(client, small_city.neighbour, meter=meter, value="350", language="en").content.decode()

    assert "Nothing stored yet. Read these values back to the customer" in asked
    assert 'data-code="DECREASE"' in asked and 'name="confirmed" value="1"' in asked
    assert not Reading.objects.filter(meter=meter, value=Decimal(350)).exists()

    response = _enter(client, small_city.neighbour, meter=meter, value="350", language="en", confirmed=True)

    page = response.content.decode()
    assert "is held for review" in page
    assert 'data-code="DECREASE"' in page and "lower than the previous reading" in page
    reading = Reading.objects.get(meter=meter, value=Decimal(350))
    assert (reading.source, reading.status, reading.codes, reading.note) == ("CUSTOMER", "HELD", ["DECREASE"],
                                                                           "CONFIRMED")


@pytest.mark.django_db
def test_a_reading_that_is_not_a_number_is_refused_naming_the_field(client, small_city):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")

    response = _enter(client, small_city.neighbour, meter=meter, value="52o", htmx=False)

    assert response.status_code == 422
    page = response.content.decode()
    assert "示数未保存" in page and 'aria-invalid="true"' in page
    assert not Reading.objects.filter(meter=meter, read_date=timezone.localdate()).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["5_20", "5,20", "5e2", "٥٢٠"])
def test_a_reading_written_otherwise_than_digits_is_refused_as_the_api_refuses_it(client, small_city, typed):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")

    response = _enter(client, small_city.neighbour, meter=meter, value=typed, htmx=False)

    assert response.status_code == 422
    assert not Reading.objects.filter(meter=meter, read_date=timezone.localdate()).exists()


@pytest.mark.django_db
def test_full_width_digits_typed_at_the_counter_are_the_same_reading(client, small_city):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")

    response = _enter(client, small_city.neighbour, meter=meter, value="５２０．５")

    assert response.status_code == 200
    assert Reading.objects.get(meter=meter, read_date=timezone.localdate()).value == Decimal("520.50")


@pytest.mark.django_db
def test_the_same_reading_form_sent_twice_stores_one_reading(client, small_city):
    client.force_login(small_city.clerk)
    meter = Meter.objects.get(asset_number="ZJ2023000789")

    _enter(client, small_city.neighbour, meter=meter, value="530")
    again = _enter(client, small_city.neighbour, meter=meter, value="530", language="en").content.decode()

    assert "was already received; nothing was stored again" in again
    assert Reading.objects.filter(meter=meter, value=Decimal(530)).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [("auditor", 403), ("account_manager", 403), ("reader", 403),
                                         ("other_clerk", 404), ("supervisor", 200)])
def test_only_clerks_and_supervisors_of_the_city_enter_readings(client, small_city, who, status):
    client.force_login(getattr(small_city, who))
    meter = Meter.objects.get(asset_number="ZJ2023000789")

    response = _enter(client, small_city.neighbour, meter=meter, value="540")

    assert response.status_code == status
    assert Reading.objects.filter(meter=meter, value=Decimal(540)).exists() is (status == 200)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_clerk_types_in_the_customers_reading_and_sees_the_result_at_once(page: Page, live_server, small_city,
                                                                          artifacts_dir):
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.goto(f"{live_server.url}/accounts/{small_city.neighbour.number}/")
    card = page.get_by_test_id("reading-entry")
    expect(card.get_by_role("heading")).to_have_text("录入客户报送的示数")

    # When she types a reading lower than last month's, she is asked to confirm it with the customer first
    card.get_by_label("示数", exact=True).fill("350")
    card.get_by_role("button", name="校验并保存示数").click()
    expect(page.get_by_test_id("reading-confirm")).to_contain_text("低于上次示数")
    page.get_by_test_id("reading-entry").screenshot(path=str(artifacts_dir / "counter-reading-confirm-zh.png"))
    page.get_by_role("button", name="客户已确认，保存示数").click()

    # Then the card says at once that it is held, and why, without leaving the customer screen
    outcome = page.get_by_test_id("reading-outcome")
    expect(outcome).to_contain_text("已暂挂待审核")
    expect(outcome).to_contain_text("低于上次示数")
    expect(page).to_have_url(re.compile(rf"/accounts/{small_city.neighbour.number}/$"))
    page.get_by_test_id("reading-entry").screenshot(path=str(artifacts_dir / "counter-reading-held-zh.png"))

    # When the customer finds the right figure, the corrected value is accepted
    card = page.get_by_test_id("reading-entry")
    card.get_by_label("示数", exact=True).fill("520")
    card.get_by_role("button", name="校验并保存示数").click()
    expect(page.get_by_test_id("reading-outcome")).to_contain_text("示数 520 已接受")
    page.screenshot(path=str(artifacts_dir / "counter-reading-accepted-zh.png"), full_page=True)
    assert Reading.objects.filter(account=small_city.neighbour, source="CUSTOMER").count() == 2


# --- the auditor's review queue --------------------------------------------------------------------------------

def _queue_accounts(client, **filters) -> list[str]:
    page = client.get(reverse("review_queue"), filters).content.decode()
    return re.findall(r'data-testid="held-bill" data-account="(\d+)"', page)


@pytest.mark.django_db
def test_the_review_queue_filters_by_rule_route_and_reader(client, review_routes):
    client.force_login(review_routes.world.auditor)
    acc = {key: a.number for key, a in review_routes.accounts.items()}

    everything = _queue_accounts(client)
    by_rule = _queue_accounts(client, rule="MISSED")
    by_route = _queue_accounts(client, route="RV-W")
    by_reader = _queue_accounts(client, reader=str(review_routes.second_reader.pk))
    combined = _queue_accounts(client, rule="DECREASE", route="RV-E")

    assert sorted(everything) == sorted(acc.values())  # another city's held bill is not listed
    assert review_routes.other.number not in everything
    assert sorted(by_rule) == sorted([acc[("RV-E", "missed")], acc[("RV-W", "missed")]])
    assert sorted(by_route) == sorted([acc[("RV-W", "lower")], acc[("RV-W", "missed")]])
    assert by_reader == by_route  # the West route is the second reader's
    assert combined == [acc[("RV-E", "lower")]]
    page = client.get(reverse("review_queue"), {"rule": "MISSED"}).content.decode()
    assert "2 张暂挂账单" in page


@pytest.mark.django_db
def test_an_opened_row_shows_the_reading_history_newest_first(client, review_routes):
    client.force_login(review_routes.world.auditor)
    bill = review_routes.held[("RV-E", "lower")]

    page = client.get(reverse("review_bill", args=[bill.pk]), HTTP_ACCEPT_LANGUAGE="en", **HTMX).content.decode()

    assert "Reading history, register Total" in page
    assert page.index("2025-03-15") < page.index("2025-02-15") < page.index("2025-01-15")
    assert "DECREASE" in page and "-100" in page  # the lower reading and the negative consumption it implies
    assert "Record decision" in page


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [("clerk", 403), ("reader", 403), ("account_manager", 403),
                                         ("other_supervisor", 404)])
def test_only_reviewers_of_the_city_open_or_decide_a_held_bill(client, review_routes, who, status):
    client.force_login(getattr(review_routes.world, who))
    bill = review_routes.held[("RV-E", "lower")]

    opened = client.get(reverse("review_bill", args=[bill.pk]), **HTMX)
    decided = client.post(reverse("review_decide", args=[bill.pk]), {"decision": "RELEASE", "reason": "ok"}, **HTMX)

    assert (opened.status_code, decided.status_code) == (status, status)
    bill.refresh_from_db()
    assert bill.status == "HELD" and not ReviewDecision.objects.filter(bill=bill).exists()


@pytest.mark.django_db
def test_a_decision_without_a_reason_is_refused_beside_the_form(client, review_routes):
    client.force_login(review_routes.world.auditor)
    bill = review_routes.held[("RV-E", "lower")]

    page = client.post(reverse("review_decide", args=[bill.pk]), {"decision": "RELEASE", "reason": " "},
                       HTTP_ACCEPT_LANGUAGE="en", **HTMX).content.decode()

    assert 'data-testid="decision-error"' in page
    bill.refresh_from_db()
    assert bill.status == "HELD"


def _decide(page: Page, account: Account, *, decision_label: str, reason: str, value: str = "") -> None:
    row = page.locator(f'tbody[data-account="{account.number}"]')
    row.locator("button.open-bill").click()
    form = row.get_by_test_id("decide-form")
    expect(row.get_by_test_id("reading-history").first).to_be_visible()
    form.get_by_label(decision_label).check()
    if value:
        form.get_by_test_id("decide-value").fill(value)
    form.get_by_test_id("decide-reason").fill(reason)
    form.get_by_role("button").click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_auditor_filters_the_queue_and_makes_each_decision(page: Page, live_server, review_routes, artifacts_dir):
    world = review_routes.world
    sign_in(page, base=live_server.url, username="auditor.east", password=world.password)

    # The header offers the auditor her review queue
    page.get_by_role("link", name="审核队列").click()
    expect(page.get_by_role("heading", name="审核队列")).to_be_visible()
    expect(page.get_by_test_id("held-bill")).to_have_count(4)
    page.screenshot(path=str(artifacts_dir / "review-queue-zh.png"), full_page=True)

    # Filter by rule, then by reader
    filters = page.get_by_test_id("review-filters")
    filters.get_by_label("规则").select_option("MISSED")
    filters.get_by_role("button", name="筛选").click()
    expect(page.get_by_test_id("held-bill")).to_have_count(2)
    expect(page.get_by_test_id("review-count")).to_have_text("2 张暂挂账单")
    filters = page.get_by_test_id("review-filters")
    filters.get_by_label("规则").select_option("")
    filters.get_by_label("抄表员").select_option(label="赵抄表")
    filters.get_by_role("button", name="筛选").click()
    expect(page.get_by_test_id("held-bill")).to_have_count(2)
    filters = page.get_by_test_id("review-filters")
    filters.get_by_label("抄表员").select_option("")
    filters.get_by_role("button", name="筛选").click()

    # Release the West route's lower reading (the old meter was re-set), in Chinese
    acc = review_routes.accounts
    _decide(page, acc[("RV-W", "lower")], decision_label="放行（按原样发行）", reason="表计更换后清零，示数无误")
    row = page.locator(f'tbody[data-account="{acc[("RV-W", "lower")].number}"]')
    expect(row.get_by_test_id("outcome")).to_contain_text("已放行：账单按原样发行。")
    page.screenshot(path=str(artifacts_dir / "review-released-zh.png"), full_page=True)

    # The rest in English: correct, order a re-read, estimate
    to_english(page)
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    _decide(page, acc[("RV-E", "lower")], decision_label="Correct the reading", value="1400",
            reason="digits misread: 1400 on the photo")
    row = page.locator(f'tbody[data-account="{acc[("RV-E", "lower")].number}"]')
    expect(row.get_by_test_id("outcome")).to_contain_text("Reading corrected: the bill was cancelled and rebilled.")
    expect(row.get_by_test_id("outcome")).to_contain_text("New bill:")
    _decide(page, acc[("RV-W", "missed")], decision_label="Order a re-read", reason="gate locked, try again")
    row = page.locator(f'tbody[data-account="{acc[("RV-W", "missed")].number}"]')
    expect(row.get_by_test_id("outcome")).to_contain_text("On-site re-read ordered: the bill stays held.")
    _decide(page, acc[("RV-E", "missed")], decision_label="Estimate", reason="flat empty, estimate per rules")
    row = page.locator(f'tbody[data-account="{acc[("RV-E", "missed")].number}"]')
    expect(row.get_by_test_id("outcome")).to_contain_text("Reading estimated: the bill was cancelled and rebilled.")
    page.screenshot(path=str(artifacts_dir / "review-decisions-en.png"), full_page=True)

    # Then each decision is recorded in her name, with its reason, in the audit log
    held = review_routes.held
    expected = {("RV-W", "lower"): ("RELEASE", "ISSUED"), ("RV-E", "lower"): ("CORRECT_READING", "CANCELLED"),
                ("RV-W", "missed"): ("ORDER_REREAD", "HELD"), ("RV-E", "missed"): ("ESTIMATE", "CANCELLED")}
    for key, (decision, status) in expected.items():
        bill = Bill.objects.get(pk=held[key].pk)
        assert bill.status == status, key
        made = ReviewDecision.objects.get(bill=bill)
        assert (made.decision, made.decided_by) == (decision, world.auditor)
        event = AuditEvent.objects.get(action=f"REVIEW_{decision}", object_id=str(bill.pk))
        assert event.user == world.auditor and event.reason == made.reason
    assert Reading.objects.get(account=acc[("RV-E", "lower")], value=Decimal(1400)).source == "CORRECTION"
    assert SiteVisitOrder.objects.filter(account=acc[("RV-W", "missed")]).exists()


# --- the supervisor's day --------------------------------------------------------------------------------------

def _pay(world, *, account, clerk, hall, fen, channel, key):
    with acting_as(Actor(user=clerk, hall=hall, channel="WEB")):
        return take_payment(account=account, amount_fen=fen, channel=channel, hall=hall, clerk=clerk,
                            idempotency_key=key, taken_at=timezone.now()).payment


@pytest.fixture
def busy_day(small_city):
    """Today: East takes 100 cash and 50 by card, West 250 by card; Other City 999 cash. One bill held."""
    w = small_city
    _pay(w, account=w.account, clerk=w.clerk, hall=w.east, fen=10000, channel="CASH", key="day-1")
    _pay(w, account=w.neighbour, clerk=w.clerk, hall=w.east, fen=5000, channel="CARD", key="day-2")
    _pay(w, account=w.account, clerk=w.clerk_west, hall=w.west, fen=25000, channel="CARD", key="day-3")
    _pay(w, account=w.stranger, clerk=w.other_clerk, hall=w.other_hall, fen=99900, channel="CASH", key="day-4")
    w.latest_bill.status = Bill.Status.HELD
    w.latest_bill.hold_codes = ["HIGH_USE"]
    w.latest_bill.save(update_fields=["status", "hold_codes"])
    return w


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.django_db
def test_the_day_view_shows_takings_per_hall_clerk_and_channel_with_the_non_cash_share(client, busy_day):
    client.force_login(busy_day.supervisor)

    response = client.get(reverse("supervisor_day"))

    page = _text(response.content.decode())
    assert response.status_code == 200
    assert "¥400.00" in page and "3 笔缴费" in page  # Other City's 999 yuan is not in it
    assert "999.00" not in page and "邻市营业厅" not in page
    assert "非现金占比 75.0%" in page
    assert "城东营业厅 2 100.00 50.00 150.00 33.3%" in page
    assert "城西营业厅 1 0.00 250.00 250.00 100.0%" in page
    assert "李柜员 2 100.00 50.00 150.00 33.3%" in page and "clerk.west 1 0.00 250.00 250.00 100.0%" in page
    assert "现金 1 100.00 25.0%" in page and "银行卡 2 300.00 75.0%" in page


@pytest.mark.django_db
def test_the_day_view_counts_what_awaits_a_decision(client, busy_day):
    client.force_login(busy_day.supervisor)

    page = client.get(reverse("supervisor_day")).content.decode()

    assert re.search(r'data-testid="held-bills">1<', page)
    assert re.search(r'data-testid="held-readings">1<', page)  # the 4990 reading of yesterday
    assert "<code>HIGH_USE</code> 1" in page


@pytest.mark.django_db
def test_an_earlier_day_and_a_bad_date(client, busy_day):
    client.force_login(busy_day.supervisor)
    yesterday = (timezone.localdate() - timezone.timedelta(days=1)).isoformat()

    earlier = _text(client.get(reverse("supervisor_day"), {"date": yesterday}).content.decode())
    bad = _text(client.get(reverse("supervisor_day"), {"date": "yesterday"},
                           HTTP_ACCEPT_LANGUAGE="en").content.decode())

    assert "当天没有缴费" in earlier and "¥0.00" in earlier
    assert "is not a date like" in bad and "¥400.00" in bad


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [("clerk", 403), ("auditor", 403), ("reader", 403),
                                         ("account_manager", 403), ("installer", 403), ("admin", 200)])
def test_only_supervisors_see_the_day_view(client, busy_day, who, status):
    client.force_login(getattr(busy_day, who))

    assert client.get(reverse("supervisor_day")).status_code == status


@pytest.mark.django_db
def test_another_citys_supervisor_sees_only_their_city(client, busy_day):
    client.force_login(busy_day.other_supervisor)

    page = _text(client.get(reverse("supervisor_day")).content.decode())

    assert "¥999.00" in page and "城东营业厅" not in page and "城西营业厅" not in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_supervisor_reads_the_day_in_both_languages(page: Page, live_server, busy_day, artifacts_dir):
    sign_in(page, base=live_server.url, username="supervisor.east", password=busy_day.password)

    page.get_by_role("link", name="当日概览").click()
    expect(page.get_by_test_id("non-cash-share")).to_contain_text("75.0%")
    expect(page.get_by_test_id("by-hall").locator('tbody[data-hall="DEMO-W"]')).to_contain_text("250.00")
    expect(page.get_by_test_id("held-bills")).to_have_text("1")
    page.screenshot(path=str(artifacts_dir / "supervisor-day-zh.png"), full_page=True)

    to_english(page)
    expect(page.get_by_role("heading", name=re.compile("^Day view"))).to_be_visible()
    expect(page.get_by_test_id("by-channel")).to_contain_text("Bank card")
    expect(page.get_by_test_id("awaiting-decision")).to_contain_text("Held readings")
    page.screenshot(path=str(artifacts_dir / "supervisor-day-en.png"), full_page=True)
