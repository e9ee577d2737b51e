"""The business's time zone, defined once: business dates are Asia/Shanghai dates; timestamps are stored in UTC."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def business_date(moment: datetime) -> date:
    """The business date of an aware timestamp."""
    return moment.astimezone(BUSINESS_TZ).date()


def start_of_business_day(day: date) -> datetime:
    """The first instant of a business date, aware."""
    return datetime(day.year, day.month, day.day, tzinfo=BUSINESS_TZ)
