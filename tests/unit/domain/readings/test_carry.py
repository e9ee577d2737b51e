"""A customer's reading off the fixed day, carried to the fixed day at the daily average since the last actual."""
from datetime import date
from decimal import Decimal

from gridcounter.domain.readings.carry import carried_value, daily_average, in_doubt


def test_a_reading_before_the_fixed_day_is_carried_forward_at_the_daily_average():
    # 70 kWh in the 21 days from 15 Oct to 5 Nov: 3.33 a day, ten more days to the fixed day 15 Nov
    value = carried_value(last_value=Decimal(1000), last_date=date(2026, 10, 15), value=Decimal(1070),
                          read_date=date(2026, 11, 5), fixed_date=date(2026, 11, 15))
    assert value == Decimal("1103.33")


def test_a_fixed_day_between_the_two_readings_is_interpolated():
    value = carried_value(last_value=Decimal(1000), last_date=date(2026, 10, 15), value=Decimal(1120),
                          read_date=date(2026, 11, 24), fixed_date=date(2026, 11, 15))
    assert value == Decimal("1093.00")  # 3 a day for 31 days


def test_nothing_is_carried_from_a_lower_reading_or_to_a_day_before_the_last_actual():
    assert carried_value(last_value=Decimal(1000), last_date=date(2026, 10, 15), value=Decimal(990),
                         read_date=date(2026, 11, 5), fixed_date=date(2026, 11, 15)) is None
    assert carried_value(last_value=Decimal(1000), last_date=date(2026, 10, 15), value=Decimal(1050),
                         read_date=date(2026, 11, 5), fixed_date=date(2026, 10, 15)) is None
    assert daily_average(last_value=Decimal(1), last_date=date(2026, 1, 1), value=Decimal(2),
                         read_date=date(2026, 1, 1)) is None


def test_being_off_the_fixed_day_alone_is_no_doubt():
    blocking = frozenset({"OFF_SCHEDULE", "DECREASE", "SPIKE"})
    assert in_doubt(["OFF_SCHEDULE"], blocking=blocking) == []
    assert in_doubt(["OFF_SCHEDULE", "DECREASE", "ZERO_USE"], blocking=blocking) == ["DECREASE"]
