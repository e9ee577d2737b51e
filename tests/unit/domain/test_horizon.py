"""The imports' horizon: no date before 1950, none after the business date (plus the lead a file may have)."""
from datetime import date, timedelta

from gridcounter.domain.horizon import EARLIEST_DATE, INTERVAL_LEAD, Horizon, horizon_problem


def test_dates_between_the_earliest_and_the_business_date_are_inside():
    today = date(2026, 12, 31)
    assert horizon_problem(EARLIEST_DATE, today=today) is None
    assert horizon_problem(today, today=today) is None


def test_a_date_before_1950_or_after_the_business_date_is_outside():
    today = date(2026, 12, 31)
    assert horizon_problem(date(1949, 12, 31), today=today) is Horizon.TOO_EARLY
    assert horizon_problem(date(1, 1, 1), today=today) is Horizon.TOO_EARLY
    assert horizon_problem(date(2027, 1, 1), today=today) is Horizon.IN_FUTURE
    assert horizon_problem(date(9999, 12, 31), today=today) is Horizon.IN_FUTURE


def test_intervals_may_lead_the_business_date_by_one_day_and_no_more():
    today = date(2026, 12, 31)
    assert horizon_problem(today + timedelta(days=1), today=today, lead=INTERVAL_LEAD) is None
    assert horizon_problem(today + timedelta(days=2), today=today, lead=INTERVAL_LEAD) is Horizon.IN_FUTURE
