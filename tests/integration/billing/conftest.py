"""A small city built with the ORM: one route read on the 15th, accounts with monthly readings."""
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from gridcounter.data.org.models import City, Company, Hall, Role, StaffUser
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Customer, Installation, Meter, Premise, Route

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 8, 20, 2, 0, tzinfo=UTC)


@dataclass
class City_:
    city: City
    hall: Hall
    route: Route
    auditor: StaffUser
    n: int = 0

    def account(self, *, tariff="BJ-RES-LT1KV", category="RESIDENTIAL", digits=6, multiplier="1",
                registers=("TOTAL",), installed=date(2023, 12, 1), household_size=3, capacity_kva=None,
                initial=None):
        self.n += 1
        customer = Customer.objects.create(name=f"客户{self.n}", id_type="RESIDENT_ID", id_number=f"ID{self.n:06d}",
                                           phone=f"1380000{self.n:04d}")
        premise = Premise.objects.create(city=self.city, address=f"示范路 {self.n} 号", building="1")
        account = Account.objects.create(
            number=f"A{self.n:05d}", customer=customer, premise=premise, city=self.city, home_hall=self.hall,
            route=self.route, walk_order=self.n, usage_category=category, tariff_id=tariff, voltage="LV_220V",
            household_size=household_size, capacity_kva=capacity_kva,
        )
        meter = Meter.objects.create(asset_number=f"M{self.n:05d}", digits=digits, multiplier=Decimal(multiplier),
                                     registers=list(registers))
        Installation.objects.create(meter=meter, account=account, installed_date=installed,
                                    initial_readings=initial or {r: "0" for r in registers})
        return account, meter


def read(meter, account, day: date, value, *, register="TOTAL", status="ACCEPTED", codes=(), findings=(),
         source="HANDHELD", is_estimate=False):
    return Reading.objects.create(
        meter=meter, account=account, register=register, read_at=datetime.combine(day, time(10), tzinfo=TZ),
        read_date=day, value=Decimal(str(value)), source=source, is_estimate=is_estimate, status=status,
        codes=list(codes), findings=list(findings), created_at=NOW,
    )


def monthly(meter, account, *, usages: list, start=date(2024, 1, 15), value=Decimal(0), register="TOTAL"):
    """Readings on the 15th of each month from `start`: the first at `value`, then + each usage in turn."""
    readings = [read(meter, account, start, value, register=register)]
    year, month = start.year, start.month
    for use in usages:
        month += 1
        if month == 13:
            year, month = year + 1, 1
        value += Decimal(str(use))
        readings.append(read(meter, account, date(year, month, 15), value, register=register))
    return readings


def make_city(*, province: str = "BJ") -> City_:
    """One company, city, hall, reader, route R15 (fixed day 15) and auditor."""
    company = Company.objects.create(code="T", name="测试供电公司")
    city = City.objects.create(company=company, code="C1", name="测试市", province=province)
    hall = Hall.objects.create(city=city, code="H1", name="测试营业厅")
    reader = StaffUser.objects.create(username="reader", hall=hall, display_name="抄表员甲")
    route = Route.objects.create(city=city, hall=hall, code="R15", reading_day=15, reader=reader)
    auditor = StaffUser.objects.create(username="auditor", hall=hall, display_name="审核员")
    auditor.roles.add(Role.objects.get_or_create(code="AUDITOR")[0])
    return City_(city=city, hall=hall, route=route, auditor=auditor)


@pytest.fixture
def city(db):
    return make_city()
