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
    assert response.status_code == 422 and response.json()["field"] == "register"


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


@pytest.mark.parametrize("read_at", ["0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00", "1949-12-31T23:59",
                                     "2100-01-01T00:00+08:00"])
def test_a_date_beyond_the_supported_range_is_a_422_naming_read_at(client, town, staff, read_at):
    a = town.account()
    client.force_login(staff("reader4"))
    response = post(client, {"meter": a.meter.asset_number, "read_at": read_at, "value": "5"})

    assert response.status_code == 422
    assert response.json() == {"code": "DATE_OUT_OF_RANGE", "field": "read_at",
                               "detail": "read_at: is outside the supported dates, 1950-01-01 to 2099-12-31"}
    assert not Reading.objects.filter(meter=a.meter).exists()


@pytest.mark.parametrize(("value", "code"), [(True, "INVALID_VALUE"), (5, "INVALID_VALUE"), ("1_000", "INVALID_VALUE"),
                                             ("-5", "INVALID_VALUE"), ("5.123", "INVALID_VALUE")])
def test_a_value_is_digits_as_text(client, town, staff, value, code):
    a = town.account()
    client.force_login(staff("reader5"))
    response = post(client, {"meter": a.meter.asset_number, "read_at": "2026-11-15T10:00:00", "value": value})

    assert response.status_code == 422
    assert response.json()["code"] == code and response.json()["field"] == "value"


def test_full_width_digits_read_as_the_same_value(client, town, staff):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    client.force_login(staff("reader6"))
    typed = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else "．" for c in f"{last + 200}.5")
    response = post(client, {"meter": a.meter.asset_number, "read_at": "2026-11-15T10:00:00", "value": typed})

    assert response.status_code == 201, response.content
    assert response.json()["value"] == f"{last + 200}.50"


def test_another_citys_meter_and_account_answer_as_unknown_ones(client, town, staff):
    a = town.account()
    client.force_login(staff("far2", hall=town.other_hall, roles=(Role.Code.METER_READER, Role.Code.CLERK)))

    for hidden, unknown in [(f"account={a.number}", "account=NOSUCH"),
                            (f"meter={a.meter.asset_number}", "meter=NOSUCH")]:
        other, missing = client.get(f"/api/readings?{hidden}"), client.get(f"/api/readings?{unknown}")
        assert other.status_code == missing.status_code == 404
        assert other.json()["code"] == missing.json()["code"] and other.json()["field"] == missing.json()["field"]
        assert other.json()["detail"].replace(hidden.split("=")[1], "NOSUCH") == missing.json()["detail"]
    posted = post(client, {"meter": a.meter.asset_number, "read_at": "2026-11-15T10:00:00", "value": "5"})
    missing = post(client, {"meter": "NOSUCH", "read_at": "2026-11-15T10:00:00", "value": "5"})
    assert posted.status_code == missing.status_code == 404
    assert posted.json() == {**missing.json(), "detail": missing.json()["detail"].replace("NOSUCH", a.meter.asset_number)}


@pytest.mark.parametrize("limit", ["1_000", "+5", "５", "0", "501"])
def test_a_limit_is_a_plain_count(client, town, staff, limit):
    a = town.account()
    client.force_login(staff("clerk7", roles=(Role.Code.CLERK,)))
    response = client.get(f"/api/readings?account={a.number}&limit={limit}", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_REQUEST" and response.json()["field"] == "limit"
