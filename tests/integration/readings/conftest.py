"""A small city for reading tests: one route on the 15th, accounts with monthly fixed-day readings."""
from datetime import UTC, date, datetime, time
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import City, Company, Hall, Role, StaffUser
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Customer, Installation, Meter, Premise, Route

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
_serial = count(1)


def local(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI)


def month_days(last: date, n: int) -> list[date]:
    """The 15th (or ``last.day``) of the ``n`` months ending with ``last``, oldest first."""
    days = []
    year, month = last.year, last.month
    for _ in range(n):
        days.append(date(year, month, last.day))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return days[::-1]


class Town:
    def __init__(self):
        company = Company.objects.create(code=f"C{next(_serial)}", name="示范供电公司")
        self.city = City.objects.create(company=company, code=f"CITY{next(_serial)}", name="示范市", province="BJ")
        self.other_city = City.objects.create(company=company, code=f"CITY{next(_serial)}", name="邻市", province="BJ")
        self.hall = Hall.objects.create(city=self.city, code=f"H{next(_serial)}", name="城区营业厅")
        self.other_hall = Hall.objects.create(city=self.other_city, code=f"H{next(_serial)}", name="邻市营业厅")
        self.route = Route.objects.create(city=self.city, hall=self.hall, code=f"R{next(_serial)}", reading_day=15)
        self.actor = Actor(reason="test", channel="SYSTEM")

    def account(self, *, building="1号楼", digits=5, registers=("TOTAL",), status=Account.Status.ACTIVE,
                installed=date(2024, 1, 1), multiplier=Decimal(1)) -> Account:
        n = next(_serial)
        customer = Customer.objects.create(name=f"客户{n}", id_type=Customer.IdType.OTHER, id_number=f"X{n}")
        premise = Premise.objects.create(city=self.city, address=f"示范路{n}号", building=building)
        account = Account.objects.create(
            number=f"A{n:08d}", customer=customer, premise=premise, city=self.city, home_hall=self.hall,
            route=self.route, usage_category="RESIDENTIAL", tariff_id="BJ-RES-LT1KV", voltage="LV_220V", status=status)
        meter = Meter.objects.create(asset_number=f"M{n:08d}", digits=digits, registers=list(registers),
                                     multiplier=multiplier)
        Installation.objects.create(meter=meter, account=account, installed_date=installed)
        account.meter = meter
        return account

    def history(self, account, *, start_value, uses, last=date(2026, 10, 15), register="TOTAL",
                estimates=()) -> Decimal:
        """Accepted readings on the fixed days ending ``last``: start_value, then advanced by each use."""
        days = month_days(last, len(uses) + 1)
        value = Decimal(start_value)
        for i, day in enumerate(days):
            if i:
                value += Decimal(uses[i - 1])
                value %= Decimal(10) ** account.meter.digits
            estimate = (i - 1) in estimates
            Reading.objects.create(
                meter=account.meter, account=account, register=register, read_at=local(day, 0 if estimate else 10),
                read_date=day, value=value, is_estimate=estimate,
                source=Reading.Source.ESTIMATE if estimate else Reading.Source.AMI, created_at=NOW)
        return value


@pytest.fixture
def town(db):
    return Town()


@pytest.fixture
def staff(town):
    def make(username, *, hall=None, roles=(Role.Code.METER_READER,)):
        user = StaffUser.objects.create_user(username=username, password="x-test-password-1", hall=hall or town.hall)
        for code in roles:
            user.roles.add(Role.objects.get_or_create(code=code)[0])
        return user

    return make
