"""Readings the customer brings to the counter: off the fixed day, in doubt, every register at once."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from gridcounter.application.readings import NeedsConfirmation, submit_counter_readings
from gridcounter.data.audit.context import Actor
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import Reading
from gridcounter.domain.business_time import BUSINESS_TZ
from tests.factories.readings import local, submit

pytestmark = pytest.mark.django_db
ACTOR = Actor(reason="reading brought to the counter", channel="WEB")
DAY = date(2026, 11, 5)  # ten days before the route's fixed day, the 15th
NOW = datetime.combine(DAY, time(10, 30), tzinfo=BUSINESS_TZ)


def _bring(account, values, *, day=DAY, key="k1", confirmed=False):
    return submit_counter_readings(account=account, asset_number=account.meter.asset_number, values=values,
                                   read_date=day.isoformat(), client_key=key, now=NOW, today=DAY, actor=ACTOR,
                                   confirmed=confirmed)


def test_a_reading_off_the_fixed_day_is_accepted_and_carried_to_the_fixed_day(town):
    account = town.account()
    last = town.history(account, start_value=0, uses=[100] * 12)  # the last actual on 15 Oct

    [result] = _bring(account, {"TOTAL": str(last + 70)})

    reading = result.outcome.reading
    assert (reading.source, reading.status, reading.codes) == ("CUSTOMER", "ACCEPTED", ["OFF_SCHEDULE"])
    carried = result.carried
    assert (carried.read_date, carried.value, carried.is_estimate) == (date(2026, 11, 15), last + Decimal("103.33"),
                                                                       True)
    assert carried.derived_from == reading and carried.status == "ACCEPTED"
    assert AuditEvent.objects.filter(action="READING_CARRIED", object_id=str(carried.pk)).exists()
    assert not Reading.objects.filter(account=account, status="HELD").exists()  # nothing for the auditor


def test_the_route_reading_on_the_fixed_day_supersedes_the_carried_value(town):
    account = town.account()
    last = town.history(account, start_value=0, uses=[100] * 12)
    [result] = _bring(account, {"TOTAL": str(last + 70)})

    submit(meter=account.meter, value=last + 100, read_at=local(date(2026, 11, 15)), source="HANDHELD")

    result.carried.refresh_from_db()
    assert result.carried.status == "SUPERSEDED"
    result.outcome.reading.refresh_from_db()
    assert result.outcome.reading.status == "ACCEPTED"  # the customer's own reading is kept as it was read


def test_a_value_in_doubt_is_stored_only_once_the_clerk_confirms_it(town):
    account = town.account()
    last = town.history(account, start_value=0, uses=[100] * 12)

    with pytest.raises(NeedsConfirmation) as asked:
        _bring(account, {"TOTAL": str(last - 50)})

    assert "DECREASE" in asked.value.outcomes[0].codes
    assert not Reading.objects.filter(account=account, source="CUSTOMER").exists()

    [result] = _bring(account, {"TOTAL": str(last - 50)}, confirmed=True)

    reading = result.outcome.reading
    assert (reading.status, reading.note) == ("HELD", "CONFIRMED") and "DECREASE" in reading.codes
    assert result.carried is None  # a doubtful value is not carried anywhere


def test_every_register_in_one_submit_and_none_stored_when_one_is_in_doubt(town):
    account = town.account(registers=("PEAK", "VALLEY"))
    peak = town.history(account, start_value=0, uses=[60] * 12, register="PEAK")
    valley = town.history(account, start_value=0, uses=[40] * 12, register="VALLEY")

    with pytest.raises(NeedsConfirmation):
        _bring(account, {"PEAK": str(peak + 42), "VALLEY": str(valley - 10)})
    assert not Reading.objects.filter(account=account, source="CUSTOMER").exists()

    results = _bring(account, {"PEAK": str(peak + 42), "VALLEY": str(valley + 28)}, key="k2")

    assert {r.register: r.outcome.reading.status for r in results} == {"PEAK": "ACCEPTED", "VALLEY": "ACCEPTED"}
    assert {r.register: r.carried.value for r in results} == {"PEAK": peak + Decimal(62), "VALLEY": valley
                                                              + Decimal("41.33")}


def test_the_same_form_sent_twice_stores_each_register_once(town):
    account = town.account()
    last = town.history(account, start_value=0, uses=[100] * 12)

    _bring(account, {"TOTAL": str(last + 70)})
    [again] = _bring(account, {"TOTAL": str(last + 70)})

    assert again.outcome.created is False
    assert Reading.objects.filter(account=account, source="CUSTOMER").count() == 1
    assert Reading.objects.filter(account=account, derived_from__isnull=False).count() == 1


def test_the_next_bill_runs_to_the_carried_value_and_says_it_is_an_estimate(town):
    """The bill of the period ends on the fixed day at the carried value: billed as an estimate, its explanation
    says so, and it is issued without waiting for the auditor."""
    from gridcounter.application.billrun import run_bills
    from gridcounter.data.audit.context import acting_as
    from gridcounter.data.billing.models import Bill

    account = town.account()
    last = town.history(account, start_value=0, uses=[100] * 12)
    [result] = _bring(account, {"TOTAL": str(last + 70)})

    with acting_as(Actor(reason="bill run", channel="SYSTEM")):
        run_bills(period="2026-11", as_of=date(2026, 11, 20), created_at=town.now, route_codes=[town.route.code])

    bill = Bill.objects.get(account=account, period="2026-11")
    assert bill.status == Bill.Status.ISSUED and bill.is_estimate
    assert (bill.start_date, bill.end_date) == (date(2026, 10, 15), date(2026, 11, 15))
    assert bill.kwh == result.carried.value - last == Decimal("103.33")
    text = " ".join(str(part) for part in bill.explanation) if isinstance(bill.explanation, list) else str(
        bill.explanation)
    assert "估" in text  # the customer reads that the usage is an estimate


def test_the_clerk_is_not_told_that_being_off_the_fixed_day_is_a_doubt(town, client):
    """A value in doubt read off the fixed day: the confirm step and the held result name the doubt (lower than
    the last reading), not the day, which is only information."""
    from django.urls import reverse

    from gridcounter.data.org.models import Role
    from tests.factories import org

    account = town.account()
    last = town.history(account, start_value=0, uses=[100] * 12)
    clerk = org.staff("town.clerk", hall=town.hall, roles=(Role.Code.CLERK,))
    client.force_login(clerk)
    form = {"client_key": "k-doubt", "meter": account.meter.asset_number, "read_date": DAY.isoformat(),
            "value_TOTAL": str(last - 50)}
    url = reverse("enter_reading", args=[account.number])

    asked = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")
    held = client.post(url, {**form, "confirmed": "1"}, HTTP_ACCEPT_LANGUAGE="en")

    assert [r["code"] for item in asked.context["confirm"] for r in item["reasons"]] == ["DECREASE"]
    assert "fixed reading day" not in asked.content.decode()
    assert [r["code"] for r in held.context["results"][0]["reasons"]] == ["DECREASE"]
    reading = Reading.objects.get(account=account, source="CUSTOMER")
    assert reading.status == "HELD" and "OFF_SCHEDULE" in reading.codes  # kept on the reading as information
