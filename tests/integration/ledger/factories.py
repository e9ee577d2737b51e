"""Small builders for ledger tests: two cities, halls, staff, accounts and issued bills."""
from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

from gridcounter.data.billing.models import Bill
from gridcounter.data.org.models import City, Company, Hall, Role, StaffUser
from gridcounter.data.registry.models import Account, Customer, Premise

_seq = itertools.count(1)

AT = datetime(2026, 3, 31, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai, 2026-03-31


def company() -> Company:
    return Company.objects.get_or_create(code="SGCC-T", defaults={"name": "Test Grid Co."})[0]


def city(*, code: str, name: str) -> City:
    return City.objects.get_or_create(code=code, defaults={"company": company(), "name": name, "province": "ZJ"})[0]


def hall(*, city: City, code: str, name: str | None = None) -> Hall:
    return Hall.objects.get_or_create(code=code, defaults={"city": city, "name": name or f"{code} hall"})[0]


def staff(*, hall: Hall | None, roles: tuple[str, ...] = (Role.Code.CLERK,), username: str | None = None) -> StaffUser:
    user = StaffUser.objects.create_user(username=username or f"user{next(_seq)}", password=None,
                                         hall=hall)
    for code in roles:
        user.roles.add(Role.objects.get_or_create(code=code)[0])
    return user


def account(*, city: City, home_hall: Hall, usage: str = "RESIDENTIAL") -> Account:
    n = next(_seq)
    customer = Customer.objects.create(name=f"Customer {n}", id_type="RESIDENT_ID", id_number=f"3301{n:014d}")
    premise = Premise.objects.create(city=city, address=f"{n} Test Road, {city.name}")
    return Account.objects.create(
        number=f"{city.code}{n:08d}", customer=customer, premise=premise, city=city, home_hall=home_hall,
        usage_category=usage, tariff_id="TEST-RES", voltage="LV_220V",
    )


def bill(*, account: Account, period: str, amount_fen: int, status: str = Bill.Status.ISSUED) -> Bill:
    year, month = (int(p) for p in period.split("-"))
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return Bill.objects.create(
        account=account, period=period, start_date=start, end_date=end, status=status, tariff_id="TEST-RES",
        kwh=Decimal("100.00"), amount_fen=amount_fen, issued_date=end, due_date=date(end.year, end.month, 20),
        created_at=AT,
    )
