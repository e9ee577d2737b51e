"""A small world for the counter screens: two cities, their halls and staff, customers with history.

Data goes in through the ORM (and the ledger use cases for money). The fixtures request no database
themselves: HTTP tests mark ``django_db``, browser tests ``django_db(transaction=True)`` so that the
live server thread sees the rows.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from gridcounter.application.ledger import post_bill, take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.org.models import City, Company, Hall, Role, StaffUser
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Customer, Installation, Meter, Premise, Route
from gridcounter.domain.billing.periods import parse_period, period_of, shift_period

PASSWORD = "counter-test-Passw0rd"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Seasonal monthly kWh of the main customer (Jan … Dec): air conditioning in summer, heating in winter.
SEASON = [310, 260, 220, 180, 190, 280, 420, 460, 300, 200, 230, 290]
_HASH: dict[str, str] = {}


def password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once per run.
    if "value" not in _HASH:
        _HASH["value"] = make_password(PASSWORD)
    return _HASH["value"]


def _staff(*, username: str, hall: Hall | None, roles: tuple[str, ...], display_name: str = "",
           superuser: bool = False) -> StaffUser:
    user = StaffUser.objects.create(
        username=username, hall=hall, display_name=display_name or username, password=password_hash(),
        is_staff=superuser, is_superuser=superuser,
    )
    for code in roles:
        user.roles.add(Role.objects.get_or_create(code=code)[0])
    return user


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=SHANGHAI).astimezone(UTC)


def _customer(*, city: City, hall: Hall, number: str, name: str, id_number: str, phone: str, address: str,
              route: Route | None = None) -> Account:
    customer = Customer.objects.create(name=name, id_type=Customer.IdType.RESIDENT_ID, id_number=id_number,
                                       phone=phone)
    premise = Premise.objects.create(city=city, address=address)
    return Account.objects.create(
        number=number, customer=customer, premise=premise, city=city, home_hall=hall, route=route,
        usage_category="RESIDENTIAL", tariff_id="BJ-RES-LV", voltage="LV_220V", household_size=3,
        opened_date=date(2019, 6, 1),
    )


def _bill(*, account: Account, period: str, kwh: int, explanation: list[dict], estimated: bool = False,
          status: str = Bill.Status.ISSUED) -> Bill:
    year, month = parse_period(period)
    end = date(year, month, 5)
    start_year, start_month = parse_period(shift_period(period, months=-1))
    # Residential tier 1 price 0.4883 yuan/kWh, rounded half up to the fen.
    amount_fen = int((Decimal(kwh) * Decimal("48.83")).to_integral_value(rounding=ROUND_HALF_UP))
    return Bill.objects.create(
        account=account, period=period, start_date=date(start_year, start_month, 5), end_date=end, status=status,
        tariff_id=account.tariff_id, kwh=Decimal(kwh), amount_fen=amount_fen, is_estimate=estimated,
        explanation=explanation, issued_date=end, due_date=date(year, month, 25), created_at=_at(end),
    )


def build_small_city(*, today: date) -> SimpleNamespace:
    """Demo City (two halls) and Other City (one hall); the main customer has 30 months of bills."""
    company = Company.objects.create(code="T-GRID", name="示范电网公司")
    city = City.objects.create(company=company, code="DEMO", name="示范市", province="BJ")
    other_city = City.objects.create(company=company, code="OTHER", name="邻市", province="BJ")
    east = Hall.objects.create(city=city, code="DEMO-E", name="城东营业厅")
    west = Hall.objects.create(city=city, code="DEMO-W", name="城西营业厅")
    other_hall = Hall.objects.create(city=other_city, code="OTHER-1", name="邻市营业厅")

    clerk = _staff(username="clerk.east", hall=east, roles=(Role.Code.CLERK,), display_name="李柜员")
    world = SimpleNamespace(
        today=today, city=city, other_city=other_city, east=east, west=west, other_hall=other_hall,
        password=PASSWORD,
        clerk=clerk,
        clerk_west=_staff(username="clerk.west", hall=west, roles=(Role.Code.CLERK,)),
        other_clerk=_staff(username="clerk.other", hall=other_hall, roles=(Role.Code.CLERK,)),
        auditor=_staff(username="auditor.east", hall=east, roles=(Role.Code.AUDITOR,)),
        supervisor=_staff(username="supervisor.east", hall=east, roles=(Role.Code.SUPERVISOR,)),
        other_supervisor=_staff(username="supervisor.other", hall=other_hall, roles=(Role.Code.SUPERVISOR,)),
        account_manager=_staff(username="manager.east", hall=east, roles=(Role.Code.ACCOUNT_MANAGER,)),
        reader=_staff(username="reader.east", hall=east, roles=(Role.Code.METER_READER,)),
        installer=_staff(username="installer.east", hall=east, roles=(Role.Code.INSTALLER,)),
        no_role=_staff(username="norole.east", hall=east, roles=()),
        admin=_staff(username="admin", hall=None, roles=(Role.Code.ADMIN,), superuser=True),
    )
    route = Route.objects.create(city=city, hall=west, code="DEMO-W-01", name="和平里", reading_day=5)

    # The main customer: home hall West, served at East (同城通办). Meter exchanged 14 months ago.
    account = _customer(city=city, hall=west, number="1100012345", name="王建国", id_number="11010119800101123X",
                        phone="13800138000", address="示范市东城区和平里一巷3号", route=route)
    old_meter = Meter.objects.create(asset_number="ZJ2019000123", digits=6, multiplier=Decimal(1),
                                     registers=["TOTAL"])
    new_meter = Meter.objects.create(asset_number="ZJ2024000456", digits=6, multiplier=Decimal(1),
                                     registers=["TOTAL"])
    this_period = period_of(today)
    exchange_year, exchange_month = parse_period(shift_period(this_period, months=-14))
    exchanged = date(exchange_year, exchange_month, 12)
    Installation.objects.create(meter=old_meter, account=account, installed_date=date(2019, 6, 1),
                                removed_date=exchanged, initial_readings={"TOTAL": "0"},
                                final_readings={"TOTAL": "8042"})
    Installation.objects.create(meter=new_meter, account=account, installed_date=exchanged,
                                initial_readings={"TOTAL": "0"})

    with acting_as(Actor(user=clerk, hall=east, reason="test data", channel="SYSTEM")):
        bills = {}
        for back in range(30, 0, -1):
            period = shift_period(this_period, months=-back)
            month = parse_period(period)[1]
            kwh = SEASON[month - 1] + (40 if back <= 12 else 0)  # this year's household uses a bit more
            explanation = []
            if back == 1:
                last_year_kwh = SEASON[month - 1]
                explanation = [
                    {"code": "USAGE_VS_LAST_YEAR", "numbers": {"kwh": kwh, "last_year_kwh": last_year_kwh},
                     "text_zh": f"本期用电 {kwh} 千瓦时，比去年同期（{last_year_kwh} 千瓦时）多用 40 千瓦时。",
                     "text_en": f"You used {kwh} kWh this period, 40 kWh more than the same period last year "
                                f"({last_year_kwh} kWh)."},
                    {"code": "TIER_STATUS", "numbers": {"ytd_kwh": 2950, "tier": 2},
                     "text_zh": "今年累计用电 2950 千瓦时，已进入第二档电价。",
                     "text_en": "So far this year you have used 2950 kWh and are now in price tier 2."},
                ]
            bills[period] = _bill(account=account, period=period, kwh=kwh, explanation=explanation,
                                  estimated=(back == 3))
            post_bill(bill=bills[period], created_at=_at(bills[period].issued_date))
        # Everything is paid except the latest bill.
        paid = sum(b.amount_fen for p, b in bills.items() if p != shift_period(this_period, months=-1))
        take_payment(account=account, amount_fen=paid, channel="CASH", hall=east, clerk=clerk,
                     idempotency_key="test-paid-history", taken_at=_at(today) - timedelta(days=20))

    reading_days = [shift_period(this_period, months=-k) for k in (3, 2, 1)]
    values = [Decimal("3010"), Decimal("3240"), Decimal("3550")]
    for period, value, estimated in zip(reading_days, values, (True, False, False), strict=True):
        year, month = parse_period(period)
        day = date(year, month, 5)
        Reading.objects.create(
            meter=new_meter, account=account, register="TOTAL", read_at=_at(day), read_date=day, value=value,
            source="ESTIMATE" if estimated else "HANDHELD", is_estimate=estimated, created_at=_at(day),
        )
    held_day = today - timedelta(days=1)
    Reading.objects.create(
        meter=new_meter, account=account, register="TOTAL", read_at=_at(held_day), read_date=held_day,
        value=Decimal("4990"), source="HANDHELD", status="HELD", codes=["HIGH_USE"], created_at=_at(held_day),
        findings=[{"code": "HIGH_USE", "severity": "HOLD", "numbers": {},
                   "reason_zh": "用电量是近期日均的 4 倍，请核实读数。",
                   "reason_en": "Usage is 4 times the recent daily average; check the reading."}],
    )

    # A second 王 of Demo City with readings but no bills; a 王 of Other City the East clerk must not see.
    neighbour = _customer(city=city, hall=east, number="1100012346", name="王小明", id_number="110101199203034567",
                          phone="13900139000", address="示范市东城区和平里一巷5号")
    neighbour_meter = Meter.objects.create(asset_number="ZJ2023000789", digits=6, multiplier=Decimal(1),
                                           registers=["TOTAL"])
    Installation.objects.create(meter=neighbour_meter, account=neighbour, installed_date=date(2023, 1, 1))
    for k, value in ((3, "100"), (2, "260"), (1, "400")):
        year, month = parse_period(shift_period(this_period, months=-k))
        day = date(year, month, 6)
        Reading.objects.create(meter=neighbour_meter, account=neighbour, register="TOTAL", read_at=_at(day),
                               read_date=day, value=Decimal(value), source="AMI", created_at=_at(day))
    stranger = _customer(city=other_city, hall=other_hall, number="2200098765", name="王五",
                         id_number="110101197507075555", phone="13700137000", address="邻市西城区大街1号")

    world.account = account
    world.neighbour = neighbour
    world.stranger = stranger
    world.old_meter = old_meter
    world.new_meter = new_meter
    world.latest_bill = bills[shift_period(this_period, months=-1)]
    world.bills = bills
    return world


@pytest.fixture
def small_city() -> SimpleNamespace:
    return build_small_city(today=timezone.localdate())


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Counter PCs in the halls run a Chinese browser: the first page comes in 简体中文.
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 1440, "height": 1000}}


def add_namesakes(city: SimpleNamespace, *, surname: str, id_prefix: str, number_prefix: str, village: str,
                  n: int = 25) -> None:
    """`n` residential accounts at the east hall whose customers share a surname: more than a search page holds."""
    from gridcounter.data.registry.models import Account, Customer, Premise

    for i in range(n):
        customer = Customer.objects.create(name=f"{surname}{i:02d}", id_type="RESIDENT_ID",
                                           id_number=f"{id_prefix}{i:04d}")
        premise = Premise.objects.create(city=city.city, address=f"示范市{village}{i}号")
        Account.objects.create(number=f"{number_prefix}{i:08d}", customer=customer, premise=premise, city=city.city,
                               home_hall=city.east, usage_category="RESIDENTIAL", tariff_id="T", voltage="LV_220V")
