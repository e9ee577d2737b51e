"""A reading the customer brings, in the real browser: off the fixed day it is accepted and carried to the fixed
day; a value in doubt is stored only once the clerk has confirmed it with the customer."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account
from tests.factories import registry
from tests.factories.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _route_off_today(small_city):
    """Put the neighbour on a route whose fixed day is ten days from today, so today's reading is off schedule."""
    today = timezone.localdate()
    fixed = today + timedelta(days=10)
    if fixed.day > 28:
        fixed = today - timedelta(days=10)
    route = registry.route(city=small_city.city, hall=small_city.east, code="R-OFF", reading_day=fixed.day)
    Account.objects.filter(pk=small_city.neighbour.pk).update(route=route)
    last = Reading.objects.filter(account=small_city.neighbour).order_by("-read_at").first()
    # about the neighbour's usual 5 kWh a day since the last reading
    return last, last.value + 5 * (today - last.read_date).days


def _shot(page, artifacts_dir, name):
    page.get_by_test_id("reading-entry").screenshot(path=str(artifacts_dir / name))


def test_a_customer_reading_off_the_fixed_day_is_accepted_and_shown_as_carried(page: Page, live_server, small_city,
                                                                              artifacts_dir):
    last, value = _route_off_today(small_city)
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/accounts/{small_city.neighbour.number}/")
    card = page.get_by_test_id("reading-entry")

    # The last reading and its date are beside the field
    expect(card.get_by_test_id("reading-last")).to_contain_text(last.read_date.isoformat())
    card.get_by_label("示数", exact=True).fill(str(value))
    card.get_by_role("button", name="校验并保存示数").click()

    outcome = page.get_by_test_id("reading-outcome")
    expect(outcome).to_contain_text("已接受")
    expect(page.get_by_test_id("reading-carried")).to_contain_text("推算至例日")
    _shot(page, artifacts_dir, "counter-reading-carried-zh.png")
    reading = Reading.objects.get(account=small_city.neighbour, source="CUSTOMER")
    assert reading.status == "ACCEPTED"
    assert Reading.objects.get(derived_from=reading).is_estimate


def test_a_value_in_doubt_waits_for_the_customers_confirmation(page: Page, live_server, small_city, artifacts_dir):
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"{live_server.url}/accounts/{small_city.neighbour.number}/")
    card = page.get_by_test_id("reading-entry")

    card.get_by_label("Value", exact=True).fill("300")
    card.get_by_role("button", name="Check and store reading").click()

    confirm = page.get_by_test_id("reading-confirm")
    expect(confirm).to_contain_text("Nothing stored yet")
    expect(confirm).not_to_contain_text("fixed reading day")  # being off the fixed day is no doubt
    _shot(page, artifacts_dir, "counter-reading-confirm-en.png")
    assert not Reading.objects.filter(account=small_city.neighbour, value=Decimal(300)).exists()

    page.get_by_role("button", name="The customer confirms: store these values").click()
    expect(page.get_by_test_id("reading-outcome")).to_contain_text("is held for review")
    expect(page.get_by_test_id("reading-outcome")).not_to_contain_text("fixed reading day")
    _shot(page, artifacts_dir, "counter-reading-confirmed-en.png")
    assert Reading.objects.get(account=small_city.neighbour, value=Decimal(300)).note == "CONFIRMED"
