"""Estimates are marked, limited to N in a row (then a site visit), and settled by the next actual reading."""
from datetime import date
from decimal import Decimal

import pytest

from gridcounter.application.readings import (
    EstimateRefused,
    ReadingExists,
    catch_up_for,
    estimate_missing,
    submit_reading,
    validate_cycle,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import Reading, SiteVisitOrder
from tests.factories.cities import TOWN_NOW as NOW
from tests.factories.readings import local

pytestmark = pytest.mark.django_db
USES = [200, 200, 200, 200, 200, 200]


def test_estimate_is_marked_and_based_on_history(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)  # last actual on 2026-10-15
    outcome = estimate_missing(account=a, register="TOTAL", read_date=date(2026, 11, 15), actor=town.actor,
                               received_at=NOW)
    reading = outcome.reading
    assert reading.is_estimate and reading.source == Reading.Source.ESTIMATE
    # 600 kWh over the last three cycles (92 days) -> 6.52 kWh a day x 31 days (Oct 15 - Nov 15) = 202 kWh
    assert reading.value == last + Decimal(202)
    assert AuditEvent.objects.filter(action="READING_ESTIMATED", object_id=str(reading.pk)).exists()
    again = estimate_missing(account=a, register="TOTAL", read_date=date(2026, 11, 15), actor=town.actor,
                             received_at=NOW)
    assert not again.created and again.reading.pk == reading.pk
    cycle = validate_cycle(account=a, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert cycle.registers["TOTAL"].is_estimate and not cycle.blocking


def test_the_third_estimate_in_a_row_is_refused_and_a_reading_ordered(town):
    a = town.account()
    town.history(a, start_value=10000, uses=USES, last=date(2026, 8, 15))
    estimate_missing(account=a, register="TOTAL", read_date=date(2026, 9, 15), actor=town.actor, received_at=NOW)
    estimate_missing(account=a, register="TOTAL", read_date=date(2026, 10, 15), actor=town.actor, received_at=NOW)
    with pytest.raises(EstimateRefused) as refused:
        estimate_missing(account=a, register="TOTAL", read_date=date(2026, 11, 15), actor=town.actor,
                         received_at=NOW)
    assert refused.value.finding.code == "ESTIMATE_STREAK"
    assert "2" in refused.value.finding.reason_en
    order = SiteVisitOrder.objects.get(account=a)
    assert order.reason_code == "ESTIMATE_STREAK" and order.pk == refused.value.order.pk
    assert not Reading.objects.filter(account=a, read_date=date(2026, 11, 15)).exists()


def test_estimate_refused_when_an_actual_reading_is_there(town):
    a = town.account()
    town.history(a, start_value=10000, uses=USES)
    with pytest.raises(ReadingExists):
        estimate_missing(account=a, register="TOTAL", read_date=date(2026, 10, 15), actor=town.actor,
                         received_at=NOW)


def test_next_actual_reading_settles_the_estimates(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES, last=date(2026, 8, 15))
    e1 = estimate_missing(account=a, register="TOTAL", read_date=date(2026, 9, 15), actor=town.actor,
                          received_at=NOW).reading
    e2 = estimate_missing(account=a, register="TOTAL", read_date=date(2026, 10, 15), actor=town.actor,
                          received_at=NOW).reading
    actual = last + Decimal(900)
    outcome = submit_reading(meter=a.meter, register="TOTAL", read_at=local(date(2026, 11, 15)), value=actual,
                             source="HANDHELD", actor=town.actor, received_at=NOW)
    assert not outcome.reading.is_estimate
    info = catch_up_for(account=a, register="TOTAL", read_date=date(2026, 11, 15))
    assert info.estimated_cycles == 2
    assert info.estimated_kwh == e2.value - last and e1.value - last > 0
    assert info.actual_kwh == Decimal(900)
    assert info.settled_kwh == actual - e2.value
    cycle = validate_cycle(account=a, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert cycle.registers["TOTAL"].kwh == actual - e2.value and not cycle.registers["TOTAL"].is_estimate


def test_a_late_actual_reading_supersedes_the_estimate_of_its_day(town):
    a = town.account()
    last = town.history(a, start_value=10000, uses=USES)
    estimate = estimate_missing(account=a, register="TOTAL", read_date=date(2026, 11, 15), actor=town.actor,
                                received_at=NOW).reading
    outcome = submit_reading(meter=a.meter, register="TOTAL", read_at=local(date(2026, 11, 15)),
                             value=last + Decimal(205), source="HANDHELD", actor=town.actor, received_at=NOW)
    estimate.refresh_from_db()
    assert estimate.status == Reading.Status.SUPERSEDED
    assert outcome.reading.supersedes_id == estimate.pk
