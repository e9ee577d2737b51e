"""The meter reader's route on a phone: walking order, readings checked at once, offline queue sent once.

HTTP tests (django test client) hold the access matrix and the endpoint's contract; two browser tests walk
the route on a 390×844 phone, in Chinese (offline, then back online) and in English (an anomaly needs a note).
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, expect

from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Meter

PHONE = {"width": 390, "height": 844}


def _post(client: Client, **payload):
    return client.post("/reader/readings/", data=json.dumps(payload), content_type="application/json")


def _now_text() -> str:
    return timezone.now().isoformat()


# ---- HTTP: access and contract --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_reader_sees_todays_route_in_walking_order_with_last_readings(client, reader_route):
    client.force_login(reader_route.reader)

    response = client.get("/reader/")

    assert response.status_code == 200
    page = response.content.decode()
    positions = [page.index(f"幸福小区{flat}") for flat in ("1单元101", "2单元101", "2单元102")]
    assert positions == sorted(positions)
    assert "PHM0001" in page and "3,100" in page
    assert "邻市某街1号" not in page  # another city's route is never listed
    # a day far from the route's fixed day shows no route
    far = (reader_route.today + timedelta(days=10)).isoformat()
    assert "PHM0001" not in client.get(f"/reader/?date={far}").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["clerk", "auditor", "supervisor", "no_role"])
def test_only_meter_readers_open_the_route_page_or_send_readings(client, reader_route, who):
    client.force_login(getattr(reader_route, who))
    _account, meter, last = reader_route.stops[1]

    assert client.get("/reader/").status_code == 403
    response = _post(client, client_key=str(uuid.uuid4()), meter=meter.asset_number, register="TOTAL",
                     value=str(last + 200), read_at=_now_text())
    assert response.status_code == 403
    assert not Reading.objects.filter(meter=meter, value=last + 200).exists()


@pytest.mark.django_db
def test_signed_out_phone_is_sent_to_sign_in(client, reader_route):
    assert client.get("/reader/").status_code == 302


@pytest.mark.django_db
def test_a_resent_reading_is_stored_once(client, reader_route):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]
    payload = {"client_key": str(uuid.uuid4()), "meter": meter.asset_number, "register": "TOTAL",
               "value": str(last + 195), "read_at": _now_text()}

    first = _post(client, **payload)
    again = _post(client, **payload)

    assert first.status_code == 201 and first.json()["status"] == "STORED" and first.json()["codes"] == []
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Reading.objects.filter(client_key=payload["client_key"]).count() == 1
    assert AuditEvent.objects.filter(action="READING_RECEIVED", object_id=str(first.json()["id"]),
                                     user=reader_route.reader).count() == 1


@pytest.mark.django_db
def test_a_lower_reading_is_not_stored_until_the_reader_notes_what_she_saw(client, reader_route):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[2]
    payload = {"client_key": str(uuid.uuid4()), "meter": meter.asset_number, "register": "TOTAL",
               "value": str(last - 100), "read_at": _now_text()}

    check = _post(client, **payload)

    assert check.status_code == 200 and check.json()["status"] == "CHECK"
    assert check.json()["codes"] == ["DECREASE"]
    assert "低于上次示数" in check.json()["findings"][0]["reason"]
    assert not Reading.objects.filter(meter=meter, value=last - 100).exists()

    stored = _post(client, **payload, note="METER_FAULT")

    assert stored.status_code == 201 and stored.json()["held"] is True
    reading = Reading.objects.get(client_key=payload["client_key"])
    assert (reading.value, reading.note, reading.status, reading.codes) == (last - 100, "METER_FAULT", "HELD",
                                                                              ["DECREASE"])


@pytest.mark.django_db
def test_bad_input_and_other_cities_meters_are_refused_with_the_field_named(client, reader_route):
    client.force_login(reader_route.reader)
    _account, meter, last = reader_route.stops[1]

    other = _post(client, client_key=str(uuid.uuid4()), meter=reader_route.stranger_meter.asset_number,
                  register="TOTAL", value="100", read_at=_now_text())
    bad_value = _post(client, client_key=str(uuid.uuid4()), meter=meter.asset_number, register="TOTAL",
                      value="12a", read_at=_now_text())
    bad_note = _post(client, client_key=str(uuid.uuid4()), meter=meter.asset_number, register="TOTAL",
                     value=str(last + 10), read_at=_now_text(), note="LUNCH")
    no_key = _post(client, meter=meter.asset_number, register="TOTAL", value=str(last + 10), read_at=_now_text())

    assert other.status_code == 404 and other.json()["field"] == "meter"
    assert bad_value.status_code == 400 and bad_value.json()["field"] == "value"
    assert bad_note.status_code == 400 and bad_note.json()["field"] == "note"
    assert no_key.status_code == 400 and no_key.json()["field"] == "client_key"
    assert not Reading.objects.filter(meter=reader_route.stranger_meter).exists()
    assert not Reading.objects.filter(meter=meter, read_date=reader_route.today).exists()


@pytest.mark.django_db
def test_the_phone_must_send_the_csrf_token(reader_route):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader_route.reader)
    page = client.get("/reader/")
    token = page.context["csrf_token"]
    _account, meter, last = reader_route.stops[1]
    body = json.dumps({"client_key": str(uuid.uuid4()), "meter": meter.asset_number, "register": "TOTAL",
                       "value": str(last + 190), "read_at": _now_text()})

    refused = client.post("/reader/readings/", data=body, content_type="application/json")
    accepted = client.post("/reader/readings/", data=body, content_type="application/json",
                           headers={"X-CSRFToken": str(token)})

    assert refused.status_code == 403
    assert accepted.status_code == 201


# ---- the browser, on a phone ----------------------------------------------------------------------------------

def _phone(browser: Browser, *, base: str, username: str, password: str, locale: str = "zh-CN"):
    context = browser.new_context(viewport=PHONE, locale=locale, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{base}/")
    return context, page


def _form(page, meter: Meter):
    return page.locator(f'form.reading[data-meter="{meter.asset_number}"]')


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_readings_entered_offline_wait_on_the_phone_and_are_sent_once_when_back_online(
        browser: Browser, live_server, reader_route, artifacts_dir):
    context, page = _phone(browser, base=live_server.url, username="reader.east", password=reader_route.password)
    try:
        page.get_by_role("navigation").get_by_role("link", name="我的抄表段").click()
        stops = page.get_by_test_id("stop")
        expect(stops).to_have_count(3)
        expect(stops.nth(0)).to_contain_text("1单元101")
        expect(stops.nth(2)).to_contain_text("2单元102")
        expect(page.get_by_test_id("sync-status")).to_have_text("全部读数已发送")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(artifacts_dir / "reader-route-phone-zh.png"), full_page=True)

        # Given the phone loses its connection in the stairwell
        context.set_offline(True)
        (_a1, meter1, last1), (_a2, meter2, last2) = reader_route.stops[1], reader_route.stops[2]
        # When she enters two readings
        _form(page, meter1).get_by_test_id("reading-value").fill(str(last1 + 205))
        _form(page, meter1).get_by_role("button", name="保存").click()
        _form(page, meter2).get_by_test_id("reading-value").fill(str(last2 + 180))
        _form(page, meter2).get_by_role("button", name="保存").click()

        # Then both wait on the phone, and nothing has reached the server
        expect(_form(page, meter1).get_by_test_id("reading-state")).to_contain_text("等待发送")
        expect(_form(page, meter2).get_by_test_id("reading-state")).to_contain_text("等待发送")
        expect(page.get_by_test_id("sync-status")).to_contain_text("2 条等待发送")
        assert len(page.evaluate("JSON.parse(localStorage.getItem('gridcounter.reader.queue.' + "
                                 "document.getElementById('reader').dataset.user))")) == 2
        page.screenshot(path=str(artifacts_dir / "reader-offline-waiting-zh.png"), full_page=True)
        assert not Reading.objects.filter(meter__in=[meter1, meter2], value__in=[last1 + 205, last2 + 180]).exists()

        # When the connection returns, they are sent and the phone's queue is empty
        context.set_offline(False)
        expect(_form(page, meter1).get_by_test_id("reading-state")).to_contain_text("已发送", timeout=20_000)
        expect(_form(page, meter2).get_by_test_id("reading-state")).to_contain_text("已发送", timeout=20_000)
        expect(page.get_by_test_id("sync-status")).to_have_text("全部读数已发送")
        page.screenshot(path=str(artifacts_dir / "reader-sent-zh.png"), full_page=True)

        # And each reading is stored exactly once, as a handheld reading by her, with the phone's key
        for meter, value in ((meter1, last1 + 205), (meter2, last2 + 180)):
            stored = Reading.objects.filter(meter=meter, value=value)
            assert stored.count() == 1
            assert stored.get().source == "HANDHELD" and stored.get().client_key
        # a reload (a retry after a lost answer) sends nothing again
        page.reload()
        expect(page.get_by_test_id("sync-status")).to_have_text("全部读数已发送")
        assert Reading.objects.filter(meter__in=[meter1, meter2], read_date=reader_route.today).count() == 2
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_reading_lower_than_last_time_asks_the_reader_to_look_again_and_note_it(
        browser: Browser, live_server, reader_route, artifacts_dir):
    context, page = _phone(browser, base=live_server.url, username="reader.east", password=reader_route.password)
    try:
        page.get_by_role("button", name="English").click()
        page.goto(f"{live_server.url}/reader/")
        expect(page.get_by_role("heading", name="My route")).to_be_visible()
        _account, meter, last = reader_route.stops[3]
        form = _form(page, meter)

        # When she types a value lower than last time
        form.get_by_test_id("reading-value").fill(str(last - 300))
        form.get_by_role("button", name="Save").click()

        # Then the phone says why it looks wrong and asks her to look again and note what she sees
        state = form.get_by_test_id("reading-state")
        expect(state).to_contain_text("looks wrong", timeout=10_000)
        expect(state).to_contain_text("lower than the previous reading")
        expect(state.get_by_role("radio")).to_have_count(5)
        expect(page.get_by_test_id("sync-status")).to_contain_text("1 need your attention")
        page.screenshot(path=str(artifacts_dir / "reader-anomaly-en.png"), full_page=True)
        assert not Reading.objects.filter(meter=meter, value=last - 300).exists()

        # When she looks again, the dial is broken: she notes a meter fault and saves
        state.get_by_label("Meter fault").check()
        state.get_by_role("button", name="Save with this note").click()

        # Then it is stored once, held for review, with her note
        expect(state).to_contain_text("held for review", timeout=10_000)
        reading = Reading.objects.get(meter=meter, value=last - 300)
        assert (reading.note, reading.status, reading.codes) == ("METER_FAULT", "HELD", ["DECREASE"])
        page.screenshot(path=str(artifacts_dir / "reader-anomaly-noted-en.png"), full_page=True)
    finally:
        context.close()
