"""The reader's route opens with no network once it has been opened (its service worker), unread stops first."""
from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, expect

from gridcounter.application.readings import set_access_note
from gridcounter.data.audit.context import Actor
from gridcounter.data.readings.models import Reading
from tests.factories.browser import phone


@pytest.mark.django_db
def test_the_service_worker_is_served_from_the_route_with_its_scope(reader_route):
    response = Client().get("/reader/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"gridcounter-reader-" in response.content


@pytest.mark.django_db
def test_stops_already_read_this_cycle_come_after_the_unread(client, reader_route):
    _account, meter, last = reader_route.stops[1]  # the first in walking order
    now = timezone.now()
    Reading.objects.create(meter=meter, account=_account, register="TOTAL", read_at=now,
                           read_date=timezone.localdate(now), value=last + 100, source="HANDHELD", created_at=now)
    client.force_login(reader_route.reader)

    page = client.get("/reader/").content.decode()

    first = reader_route.stops[2][0].number
    assert page.index(f'data-account="{first}"') < page.index(f'data-account="{_account.number}"')


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale, title", [("zh-CN", "我的抄表段"), ("en-GB", "My route")])
def test_the_route_opens_with_no_network_once_it_has_been_opened(browser: Browser, live_server, reader_route,
                                                                 artifacts_dir, locale, title):
    set_access_note(meter=reader_route.stops[1][1], text="有狗，钥匙在邻居家", now=timezone.now(),
                    actor=Actor(user=reader_route.reader, reason="test", channel="WEB"))
    context, page = phone(browser, base=live_server.url, username="reader.east", password=reader_route.password,
                           locale=locale)
    try:
        if locale.startswith("en"):
            page.get_by_role("button", name="English").click()
        page.goto(f"{live_server.url}/reader/")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()  # now under the service worker: the page and its static files are kept
        expect(page.get_by_test_id("stop")).to_have_count(3)
        page.wait_for_function("navigator.serviceWorker.controller !== null")

        # Given the phone has no network
        context.set_offline(True)
        # When she opens the route again
        page.reload()

        # Then the route is there, with its stops and the scripts that queue her readings
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.get_by_test_id("stop")).to_have_count(3)
        expect(page.get_by_test_id("sync-status")).not_to_be_empty()
        expect(page.get_by_test_id("access-note")).to_contain_text("有狗，钥匙在邻居家")
        page.screenshot(path=str(artifacts_dir / f"reader-offline-opened-{locale[:2]}.png"), full_page=True)
    finally:
        context.close()
