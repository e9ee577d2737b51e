"""POST /api/readings is idempotent with client_key and answers in the request's language; GET marks estimates."""
from datetime import date

import pytest

from gridcounter.application.readings import estimate_missing
from gridcounter.data.org.models import Role
from gridcounter.data.readings.models import Reading
from tests.factories.cities import TOWN_NOW as NOW

pytestmark = pytest.mark.django_db
USES = [200, 210, 190, 205, 195, 200]


def post(client, body, language="en"):
    return client.post("/api/readings", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def test_resent_reading_with_the_same_client_key_is_stored_once(client, town, staff):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    client.force_login(staff("reader1"))
    body = {"meter": a.meter.asset_number, "register": "TOTAL", "read_at": "2026-11-15T10:00:00",
            "value": str(last + 200), "source": "HANDHELD", "client_key": "phone-7-0001"}
    first = post(client, body)
    assert first.status_code == 201, first.content
    again = post(client, body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    assert Reading.objects.filter(meter=a.meter, read_date=date(2026, 11, 15)).count() == 1
    conflict = post(client, {**body, "value": str(last + 300)})
    assert conflict.status_code == 409 and conflict.json()["field"] == "client_key"


def test_codes_and_reasons_come_in_the_request_language(client, town, staff):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    client.force_login(staff("reader2"))
    body = {"meter": a.meter.asset_number, "register": "TOTAL", "read_at": "2026-11-15T10:00:00+08:00",
            "value": str(last - 100), "source": "HANDHELD"}
    english = post(client, body, "en").json()
    assert english["codes"] == ["DECREASE"] and english["status"] == "HELD"
    assert "lower than the previous reading" in english["findings"][0]["reason"]
    chinese = post(client, body, "zh-hans").json()
    assert "低于上次示数" in chinese["findings"][0]["reason"]


def test_bad_field_is_named(client, town, staff):
    a = town.account()
    client.force_login(staff("reader3"))
    response = post(client, {"meter": a.meter.asset_number, "register": "NIGHT", "read_at": "2026-11-15T10:00:00",
                             "value": "5", "source": "HANDHELD"})
    assert response.status_code == 400 and response.json()["field"] == "register"


def test_other_city_staff_cannot_see_or_submit(client, town, staff):
    a = town.account()
    client.force_login(staff("far", hall=town.other_hall, roles=(Role.Code.METER_READER, Role.Code.CLERK)))
    response = post(client, {"meter": a.meter.asset_number, "read_at": "2026-11-15T10:00:00", "value": "5"})
    assert response.status_code == 404
    assert client.get(f"/api/readings?account={a.number}").status_code == 404


def test_signed_out_is_refused(client, town):
    a = town.account()
    assert post(client, {"meter": a.meter.asset_number, "read_at": "2026-11-15T10:00:00", "value": "5"}).status_code == 401


def test_list_marks_estimates(client, town, staff):
    a = town.account()
    town.history(a, start_value=10000, uses=USES)
    estimate_missing(account=a, register="TOTAL", read_date=date(2026, 11, 15), actor=town.actor, received_at=NOW)
    client.force_login(staff("clerk1", roles=(Role.Code.CLERK,)))
    rows = client.get(f"/api/readings?account={a.number}").json()
    assert rows[0]["is_estimate"] is True and rows[0]["source"] == "ESTIMATE" and rows[0]["register"] == "TOTAL"
    assert not any(r["is_estimate"] for r in rows[1:])
    by_meter = client.get(f"/api/readings?meter={a.meter.asset_number}").json()
    assert [r["id"] for r in by_meter] == [r["id"] for r in rows]
