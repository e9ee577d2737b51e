"""The worlds the tests need, composed from the area factories (org, registry, readings, billing).

    city_for_billing   one city, hall, reader, route R15 (fixed day 15) and auditor; `account()` adds a metered
                       account, `read()`/`monthly()` its readings (the billing and bill-run tests: fixture `city`)
    bill_run_history   thirty accounts of every kind on that city's routes R15 and R15B, billed by the reference
                       engine up to the bill-run tests' period
    reading_town       a city with a route on the 15th and a neighbouring city; `account()`, `history()` (the
                       readings tests: fixture `town`, staff from fixture `staff`)
    two_cities         Hangzhou (two halls) and Ningbo (one), clerks, supervisors, a reader, an admin, staff without
                       a hall, an account in each city (ledger, access and payments API tests: fixture `two_cities`)
    registry_org       the demo city's codes (SFS, its halls, a clerk), so examples/registry-sample.csv fits (fixtures
                       `org` and `actor`)
    small_city         Demo City (two halls) and Other City, every role, the main customer with an exchanged meter,
                       30 months of bills paid but the last, readings, a held reading (the counter: `small_city`)
    held_out_city      company, city, hall and auditor of examples/heldout/ (the registry comes from its files)
    paying_city        the demo company's city with three halls, 40 accounts and six months of posted bills
    review_routes      two routes of small_city, each with a bill held on a lower reading and one on a missed one
    reader_route       a route of small_city due today with three flats and their last readings

Rows go in through the use cases (see each module); what has none (companies, cities, halls, staff; histories
of readings; bills of a given amount) is written directly, as each module's doc says.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from types import SimpleNamespace

from django.contrib.auth.hashers import make_password

from gridcounter.application.billrun import REFERENCE, run_bills
from gridcounter.application.ledger import post_bill, post_bills, take_payment
from gridcounter.application.registry import change_account
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.org.models import City, Hall, Role, StaffUser
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Meter, Route
from gridcounter.domain.billing.periods import parse_period, period_of, shift_period

from . import billing, org, readings, registry

_serial = count(1)

# --- the billing tests' city ------------------------------------------------------------------------------------

CITY_NOW = datetime(2025, 8, 20, 2, 0, tzinfo=UTC)  # when the billing tests' readings were stored


@dataclass
class CityForBilling:
    city: City
    hall: Hall
    route: Route
    reader: StaffUser
    auditor: StaffUser
    now: datetime = CITY_NOW
    n: int = 0

    def account(self, *, tariff="BJ-RES-LT1KV", category="RESIDENTIAL", digits=6, multiplier="1",
                registers=("TOTAL",), installed=date(2023, 12, 1), household_size=3, capacity_kva=None,
                initial=None) -> tuple[Account, Meter]:
        """The next account (1000000001, 1000000002 …) on the current route with meter M00001, M00002 …"""
        self.n += 1
        n = self.n
        return registry.metered_account(
            city=self.city, hall=self.hall, number=f"10000{n:05d}", name=f"客户{n}", phone=f"1380000{n:04d}",
            address=f"示范路 {n} 号", building="1", route=self.route, walk_order=n, tariff=tariff, category=category,
            household_size=household_size, capacity_kva=capacity_kva, asset_number=f"M{n:05d}", digits=digits,
            multiplier=multiplier, registers=registers, installed=installed,
            initial=initial or {r: "0" for r in registers})

    def second_route(self, code: str, *, reading_day: int = 15) -> Route:
        """Another route of the hall, read by the same reader."""
        return registry.route(city=self.city, hall=self.hall, code=code, reading_day=reading_day, reader=self.reader)

    def read(self, meter, account, day: date, value, **kwargs) -> Reading:
        """One reading as it stands, stored at `now` (see readings.read)."""
        return readings.read(meter, account, day, value, created_at=self.now, **kwargs)

    def monthly(self, meter, account, **kwargs) -> list[Reading]:
        """Monthly readings from `start`, stored at `now` (see readings.monthly)."""
        return readings.monthly(meter, account, created_at=self.now, **kwargs)

    def staff(self, username: str, *roles: str) -> StaffUser:
        return org.staff(username, hall=self.hall, roles=roles)


def city_for_billing(*, province: str = "BJ") -> CityForBilling:
    """One company, city, hall, reader, route R15 (fixed day 15) and auditor."""
    company = org.company(code="T", name="测试供电公司")
    city = org.city(company=company, code="C1", name="测试市", province=province)
    hall = org.hall(city=city, code="H1", name="测试营业厅")
    reader = org.staff("reader", hall=hall, display_name="抄表员甲")
    route = registry.route(city=city, hall=hall, code="R15", reading_day=15, reader=reader)
    auditor = org.staff("auditor", hall=hall, display_name="审核员", roles=(Role.Code.AUDITOR,))
    return CityForBilling(city=city, hall=hall, route=route, reader=reader, auditor=auditor)


# --- the bill run's city: every kind of account, a year and a half billed ----------------------------------------

BILL_RUN_PERIOD = "2025-07"
BILL_RUN_AS_OF = date(2025, 8, 20)
BILL_RUN_ACTOR = Actor(reason="bill run test", channel="SYSTEM")


def bill_run_history(city: CityForBilling) -> None:
    """Twenty plain accounts of every kind, and one of each problem the per-account path handles, on routes R15 and
    R15B; readings 2024-01-15 … 2025-07-15; every period before BILL_RUN_PERIOD billed by the reference engine.

    Thirty accounts in all: the five problems (a missed reading, a held reading, an estimate, a rollover, a meter
    exchange) go to the reference rules, the other 25 to the kernel; R15B holds two of the history cases."""
    rnd = random.Random(4)
    months = 18  # readings 2024-01-15 … 2025-07-15
    for i in range(20):
        kind = i % 5
        if kind == 3:
            account, meter = city.account(tariff="SH-RES-TOU", registers=("PEAK", "VALLEY"), household_size=5)
            for register in ("PEAK", "VALLEY"):
                city.monthly(meter, account, usages=[rnd.randint(50, 400) + Decimal("0.37") for _ in range(months)],
                             register=register)
            continue
        if kind == 4:
            account, meter = city.account(tariff="DEMO-LI-2P", category="LARGE_INDUSTRY", multiplier="40",
                                          registers=("PEAK", "FLAT", "VALLEY", "REACTIVE"), capacity_kva=Decimal("630"))
            for register in ("PEAK", "FLAT", "VALLEY", "REACTIVE"):
                city.monthly(meter, account, usages=[Decimal(rnd.randint(100, 900)) / 7 for _ in range(months)],
                             register=register)
            continue
        tariff, category = (("BJ-RES-LT1KV", "RESIDENTIAL"), ("ZJ-RES-TOU", "RESIDENTIAL"),
                            ("BJ-RES-SHARED", "SHARED_METER_RESIDENTIAL"))[kind]
        account, meter = city.account(tariff=tariff, category=category, multiplier="1" if i % 2 else "2.5",
                                      household_size=1 + i % 7)
        usages = [rnd.randint(80, 700) + Decimal(rnd.randint(0, 99)) / 100 for _ in range(months)]
        if i == 5:
            usages[-1] = usages[-13] * 4  # far above the same period last year: bill shock
        city.monthly(meter, account, usages=usages)
    # the history cases of the explanation and the bill-shock test, some on a second route of the same day
    first_route = city.route
    second = city.second_route("R15B")
    for j, changes in enumerate((
            {5: 0, 17: 900},  # no usage last July: shock against the recent average
            {5: 0, 17: Decimal("123.45")},  # recent average, no shock
            {5: 600, 17: 610},  # far above June, in line with last July: seasonal
            {16: 0, 17: 150},  # nothing used in June: no percentage against it
            {5: 0, 14: 0, 15: 0, 16: 0},  # no usable history: never a shock
    )):
        city.route = second if j % 2 else first_route
        usages = [Decimal(100)] * months
        for k, value in changes.items():
            usages[k] = Decimal(value)
        account, meter = city.account(household_size=2 + j)
        city.monthly(meter, account, usages=usages)
    city.route = first_route
    # problems: a missed reading, a held reading, an estimate, a rollover, a meter exchange
    a, m = city.account()
    city.monthly(m, a, usages=[100] * (months - 1))
    a, m = city.account()
    planted = city.monthly(m, a, usages=[100] * months)
    planted[-1].status = "HELD"
    planted[-1].save()
    a, m = city.account()
    planted = city.monthly(m, a, usages=[100] * months)
    planted[-1].is_estimate = True
    planted[-1].source = "ESTIMATE"
    planted[-1].save()
    a, m = city.account(digits=4)
    planted = city.monthly(m, a, usages=[100] * months, value=Decimal(8000))
    planted[-1].value = Decimal(50)  # 9700 → 50 on a 4-digit register: 350 kWh
    planted[-1].save()
    a, m = city.account()
    city.monthly(m, a, usages=[100] * (months - 1))
    new = registry.meter(asset_number="NEW-1")
    registry.exchange(account=a, old=m, new=new, on=date(2025, 7, 1), final={"TOTAL": "1790"},
                      initial={"TOTAL": "0"})
    city.read(new, a, date(2025, 7, 15), 45)
    # the history: every earlier period billed by the per-account run
    with acting_as(BILL_RUN_ACTOR):
        for month in range(2, 13):
            run_bills(engine=REFERENCE, period=f"2024-{month:02d}", as_of=date(2024, month, 28),
                      created_at=datetime(2024, month, 28, 1, tzinfo=UTC))
        for month in range(1, 7):
            run_bills(engine=REFERENCE, period=f"2025-{month:02d}", as_of=date(2025, month, 28),
                      created_at=datetime(2025, month, 28, 1, tzinfo=UTC))


# --- the readings tests' town -----------------------------------------------------------------------------------

TOWN_NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # the readings tests' moment


class ReadingTown:
    """A city with route on the 15th and a neighbouring city; accounts with monthly fixed-day readings."""

    def __init__(self):
        company = org.company(code=f"C{next(_serial)}", name="示范供电公司")
        self.city = org.city(company=company, code=f"CITY{next(_serial)}", name="示范市")
        self.other_city = org.city(company=company, code=f"CITY{next(_serial)}", name="邻市")
        self.hall = org.hall(city=self.city, code=f"H{next(_serial)}", name="城区营业厅")
        self.other_hall = org.hall(city=self.other_city, code=f"H{next(_serial)}", name="邻市营业厅")
        self.route = registry.route(city=self.city, hall=self.hall, code=f"R{next(_serial)}", reading_day=15)
        self.actor = Actor(reason="test", channel="SYSTEM")
        self.now = TOWN_NOW

    def account(self, *, building="1号楼", digits=5, registers=("TOTAL",), status=Account.Status.ACTIVE,
                installed=date(2024, 1, 1), multiplier=Decimal(1), tariff="BJ-RES-LT1KV",
                category="RESIDENTIAL") -> Account:
        """A metered account on the route (its meter as `account.meter`), installed without initial readings."""
        n = next(_serial)
        account, meter = registry.metered_account(
            city=self.city, hall=self.hall, number=f"20{n:08d}", name=f"客户{n}", id_type="OTHER", id_number=f"X{n}",
            address=f"示范路{n}号", building=building, route=self.route, tariff=tariff, category=category,
            asset_number=f"M{n:08d}", digits=digits, registers=registers, multiplier=multiplier, installed=installed)
        if status != Account.Status.ACTIVE:
            change_account(account=account, changes={"status": status}, actor=registry.ACTOR)
            account.refresh_from_db()
        account.meter = meter
        return account

    def history(self, account, *, start_value, uses, last=date(2026, 10, 15), register="TOTAL",
                estimates=()) -> Decimal:
        """Accepted AMI readings on the fixed days ending ``last`` (see readings.history); the last value."""
        return readings.history(account.meter, account, start_value=start_value, uses=uses, last=last,
                                register=register, estimates=estimates, created_at=self.now)


def reading_town() -> ReadingTown:
    return ReadingTown()


# --- two cities of one province: Hangzhou and Ningbo -------------------------------------------------------------

def two_cities() -> SimpleNamespace:
    """Hangzhou (West Lake hall HZ01, Binjiang hall HZ02) and Ningbo (Haishu hall NB01); a clerk at Binjiang, one at
    Haishu, a supervisor at West Lake and at Haishu, a reader at Binjiang, an admin and a clerk without a hall;
    `account` is Hangzhou's (home hall West Lake), `ningbo_account` Ningbo's."""
    company = org.company(code="SGCC-T", name="Test Grid Co.")
    hangzhou = org.city(company=company, code="HZ", name="Hangzhou", province="ZJ")
    ningbo = org.city(company=company, code="NB", name="Ningbo", province="ZJ")
    west_lake = org.hall(city=hangzhou, code="HZ01", name="West Lake hall")
    binjiang = org.hall(city=hangzhou, code="HZ02", name="Binjiang hall")
    haishu = org.hall(city=ningbo, code="NB01", name="Haishu hall")
    world = SimpleNamespace(
        hangzhou=hangzhou, ningbo=ningbo, west_lake=west_lake, binjiang=binjiang, haishu=haishu,
        clerk=org.staff("hz.clerk", hall=binjiang, roles=(Role.Code.CLERK,)),
        ningbo_clerk=org.staff("nb.clerk", hall=haishu, roles=(Role.Code.CLERK,)),
        supervisor=org.staff("hz.supervisor", hall=west_lake, roles=(Role.Code.SUPERVISOR,)),
        ningbo_supervisor=org.staff("nb.supervisor", hall=haishu, roles=(Role.Code.SUPERVISOR,)),
        reader=org.staff("hz.reader", hall=binjiang, roles=(Role.Code.METER_READER,)),
        admin=org.staff("admin", hall=None, roles=(Role.Code.ADMIN,), is_staff=True),
        hallless=org.staff("hallless", hall=None, roles=(Role.Code.CLERK,)),
    )
    world.account = customer_account(city=hangzhou, home_hall=west_lake)
    world.ningbo_account = customer_account(city=ningbo, home_hall=haishu)
    return world


def customer_account(*, city: City, home_hall: Hall) -> Account:
    """Another residential account of one of the two cities, without a meter."""
    n = next(_serial)
    return registry.account(city=city, hall=home_hall, number=f"33{n:08d}", name=f"Customer {n}",
                            address=f"{n} Test Road, {city.name}")


# --- the registry tests' organisation ---------------------------------------------------------------------------

def registry_org() -> dict:
    """A small organisation with the demo city's codes, so examples/registry-sample.csv fits: company T, city SFS
    (halls SFS-CITY and SFS-COUNTY), city LS (hall LS-CITY), a clerk at SFS-CITY."""
    company = org.company(code="T", name="测试供电公司")
    city = org.city(company=company, code="SFS", name="示范市", province="BJ")
    other_city = org.city(company=company, code="LS", name="邻市", province="ZJ")
    halls = {
        "city": org.hall(city=city, code="SFS-CITY", name="城区营业厅", kind=Hall.Kind.CITY),
        "county": org.hall(city=city, code="SFS-COUNTY", name="县营业厅", kind=Hall.Kind.COUNTY),
        "other": org.hall(city=other_city, code="LS-CITY", name="邻市营业厅", kind=Hall.Kind.CITY),
    }
    clerk = org.staff("t_clerk", hall=halls["city"], roles=(Role.Code.CLERK,))
    return {"company": company, "city": city, "other_city": other_city, "halls": halls, "clerk": clerk}


# --- the counter's small city -----------------------------------------------------------------------------------

PASSWORD = "counter-test-Passw0rd"
# Seasonal monthly kWh of the main customer (Jan … Dec): air conditioning in summer, heating in winter.
SEASON = [310, 260, 220, 180, 190, 280, 420, 460, 300, 200, 230, 290]
_HASH: dict[str, str] = {}


def password_hash() -> str:
    """PASSWORD hashed once per run: Argon2 is slow on purpose."""
    if "value" not in _HASH:
        _HASH["value"] = make_password(PASSWORD)
    return _HASH["value"]


def _counter_staff(username: str, *, hall: Hall | None, roles: tuple[str, ...], display_name: str = "",
                   superuser: bool = False) -> StaffUser:
    return org.staff(username, hall=hall, roles=roles, display_name=display_name or username,
                     password_hash=password_hash(), is_staff=superuser, is_superuser=superuser)


def _resident(*, city: City, hall: Hall, number: str, name: str, id_number: str, phone: str, address: str,
              route: Route | None = None, **meter) -> tuple[Account, Meter | None]:
    fields = dict(city=city, hall=hall, number=number, name=name, id_number=id_number, phone=phone, address=address,
                  route=route, household_size=3, opened=date(2019, 6, 1))
    if not meter:
        return registry.account(**fields), None
    return registry.metered_account(**fields, **meter)


def _counter_bill(*, account: Account, period: str, kwh: int, explanation: list[dict],
                  estimated: bool = False) -> Bill:
    year, month = parse_period(period)
    end = date(year, month, 5)
    start_year, start_month = parse_period(shift_period(period, months=-1))
    # Residential tier 1 price 0.4883 yuan/kWh, rounded half up to the fen.
    amount_fen = int((Decimal(kwh) * Decimal("48.83")).to_integral_value(rounding=ROUND_HALF_UP))
    return billing.bill(account=account, period=period, amount_fen=amount_fen, kwh=kwh,
                        start=date(start_year, start_month, 5), end=end, issued=end, due=date(year, month, 25),
                        explanation=explanation, is_estimate=estimated, created_at=readings.utc(end))


def small_city(*, today: date) -> SimpleNamespace:
    """Demo City (two halls) and Other City (one hall); the main customer has 30 months of bills."""
    company = org.company(code="T-GRID", name="示范电网公司")
    city = org.city(company=company, code="DEMO", name="示范市", province="BJ")
    other_city = org.city(company=company, code="OTHER", name="邻市", province="BJ")
    east = org.hall(city=city, code="DEMO-E", name="城东营业厅")
    west = org.hall(city=city, code="DEMO-W", name="城西营业厅")
    other_hall = org.hall(city=other_city, code="OTHER-1", name="邻市营业厅")

    clerk = _counter_staff("clerk.east", hall=east, roles=(Role.Code.CLERK,), display_name="李柜员")
    world = SimpleNamespace(
        today=today, city=city, other_city=other_city, east=east, west=west, other_hall=other_hall,
        password=PASSWORD,
        clerk=clerk,
        clerk_west=_counter_staff("clerk.west", hall=west, roles=(Role.Code.CLERK,)),
        other_clerk=_counter_staff("clerk.other", hall=other_hall, roles=(Role.Code.CLERK,)),
        auditor=_counter_staff("auditor.east", hall=east, roles=(Role.Code.AUDITOR,)),
        supervisor=_counter_staff("supervisor.east", hall=east, roles=(Role.Code.SUPERVISOR,)),
        other_supervisor=_counter_staff("supervisor.other", hall=other_hall, roles=(Role.Code.SUPERVISOR,)),
        account_manager=_counter_staff("manager.east", hall=east, roles=(Role.Code.ACCOUNT_MANAGER,)),
        reader=_counter_staff("reader.east", hall=east, roles=(Role.Code.METER_READER,)),
        installer=_counter_staff("installer.east", hall=east, roles=(Role.Code.INSTALLER,)),
        no_role=_counter_staff("norole.east", hall=east, roles=()),
        admin=_counter_staff("admin", hall=None, roles=(Role.Code.ADMIN,), superuser=True),
    )
    route = registry.route(city=city, hall=west, code="DEMO-W-01", name="和平里", reading_day=5)

    # The main customer: home hall West, served at East (同城通办). Meter exchanged 14 months ago.
    this_period = period_of(today)
    exchange_year, exchange_month = parse_period(shift_period(this_period, months=-14))
    exchanged = date(exchange_year, exchange_month, 12)
    account, old_meter = _resident(city=city, hall=west, number="1100012345", name="王建国",
                                   id_number="11010119800106123X", phone="13800138000",
                                   address="示范市东城区和平里一巷3号", route=route, asset_number="ZJ2019000123",
                                   installed=date(2019, 6, 1), initial={"TOTAL": "0"})
    new_meter = registry.meter(asset_number="ZJ2024000456")
    registry.exchange(account=account, old=old_meter, new=new_meter, on=exchanged, final={"TOTAL": "8042"},
                      initial={"TOTAL": "0"})

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
            bills[period] = _counter_bill(account=account, period=period, kwh=kwh, explanation=explanation,
                                          estimated=(back == 3))
            post_bill(bill=bills[period], created_at=readings.utc(bills[period].issued_date))
        # Everything is paid on its due date except the latest bill (no late-payment penalty charged).
        for period, bill in sorted(bills.items()):
            if period != shift_period(this_period, months=-1):
                take_payment(account=account, amount_fen=bill.amount_fen, channel="CASH", hall=east, clerk=clerk,
                             idempotency_key=f"test-paid-{period}", taken_at=readings.utc(bill.due_date))

    # The readings of the last three months (the oldest an estimate), and yesterday's held for review.
    reading_days = [shift_period(this_period, months=-k) for k in (3, 2, 1)]
    values = [Decimal("3010"), Decimal("3240"), Decimal("3550")]
    for period, value, estimated in zip(reading_days, values, (True, False, False), strict=True):
        year, month = parse_period(period)
        day = date(year, month, 5)
        readings.read(new_meter, account, day, value, read_at=readings.utc(day), created_at=readings.utc(day),
                      source="ESTIMATE" if estimated else "HANDHELD", is_estimate=estimated)
    held_day = today - timedelta(days=1)
    readings.read(new_meter, account, held_day, Decimal("4990"), read_at=readings.utc(held_day),
                  created_at=readings.utc(held_day), status="HELD", codes=["HIGH_USE"],
                  findings=[{"code": "HIGH_USE", "severity": "HOLD", "numbers": {},
                             "reason_zh": "用电量是近期日均的 4 倍，请核实读数。",
                             "reason_en": "Usage is 4 times the recent daily average; check the reading."}])

    # A second 王 of Demo City with readings but no bills; a 王 of Other City the East clerk must not see.
    neighbour, neighbour_meter = _resident(city=city, hall=east, number="1100012346", name="王小明",
                                           id_number="110101199203034568", phone="13900139000",
                                           address="示范市东城区和平里一巷5号", asset_number="ZJ2023000789",
                                           installed=date(2023, 1, 1))
    for k, value in ((3, "100"), (2, "260"), (1, "400")):
        year, month = parse_period(shift_period(this_period, months=-k))
        day = date(year, month, 6)
        readings.read(neighbour_meter, neighbour, day, value, read_at=readings.utc(day), source="AMI",
                      created_at=readings.utc(day))
    stranger, _ = _resident(city=other_city, hall=other_hall, number="2200098765", name="王五",
                            id_number="110101197507075554", phone="13700137000", address="邻市西城区大街1号")

    world.account = account
    world.neighbour = neighbour
    world.stranger = stranger
    world.old_meter = old_meter
    world.new_meter = new_meter
    world.neighbour_meter = neighbour_meter
    world.latest_bill = bills[shift_period(this_period, months=-1)]
    world.bills = bills
    return world


def namesakes(world: SimpleNamespace, *, surname: str, number_prefix: str, village: str, n: int = 25) -> list:
    """`n` accounts of small_city's East hall whose customers share a surname: more than a search page holds."""
    return registry.namesakes(city=world.city, hall=world.east, surname=surname, number_prefix=number_prefix,
                              village=village, n=n)


REVIEW_AS_OF = date(2025, 8, 20)
REVIEW_AT = datetime(2025, 8, 20, 2, 0, tzinfo=UTC)


def review_routes(world: SimpleNamespace) -> SimpleNamespace:
    """Two routes of small_city read on the 15th, each with a bill held on a lower reading and one on a missed
    read (bill runs of 2025-02 and 2025-03). Another city's held bill sits in the same database and must never
    show."""
    second_reader = _counter_staff("reader.west", hall=world.west, roles=(Role.Code.METER_READER,),
                                   display_name="赵抄表")
    world.reader.display_name = "钱抄表"
    world.reader.save(update_fields=["display_name"])
    east_route = registry.route(city=world.city, hall=world.east, code="RV-E", name="东区", reading_day=15,
                                reader=world.reader)
    west_route = registry.route(city=world.city, hall=world.west, code="RV-W", name="西区", reading_day=15,
                                reader=second_reader)
    other_route = registry.route(city=world.other_city, hall=world.other_hall, code="RV-O", reading_day=15)

    def account(city, hall, route, n, walk):
        return registry.metered_account(
            city=city, hall=hall, number=f"11009000{n:02d}", name=f"审核户{n}", phone=f"1360000{n:04d}",
            address=f"示范市审核路{n}号", route=route, walk_order=walk, household_size=3, asset_number=f"RVM{n:04d}",
            installed=date(2024, 12, 1), initial={"TOTAL": "0"})

    def read(meter, account, day, value, **kwargs):
        return readings.read(meter, account, day, value, created_at=REVIEW_AT, **kwargs)

    accounts = {}
    for n, (route, kind) in enumerate(((east_route, "lower"), (east_route, "missed"), (west_route, "lower"),
                                       (west_route, "missed")), start=1):
        made, meter = account(world.city, world.east, route, n, n)
        read(meter, made, date(2025, 1, 15), 1000)
        read(meter, made, date(2025, 2, 15), 1200)
        if kind == "lower":
            read(meter, made, date(2025, 3, 15), 1100, status="HELD", codes=["DECREASE"])
        accounts[(route.code, kind)] = made
    other, other_meter = account(world.other_city, world.other_hall, other_route, 9, 1)
    read(other_meter, other, date(2025, 1, 15), 1000)
    read(other_meter, other, date(2025, 2, 15), 1200)
    for period in ("2025-02", "2025-03"):
        run_bills(period=period, as_of=REVIEW_AS_OF, created_at=REVIEW_AT)
    held = {key: Bill.objects.get(account=made, period="2025-03", status="HELD") for key, made in accounts.items()}
    assert Bill.objects.filter(account=other, period="2025-03", status="HELD").exists()
    return SimpleNamespace(world=world, held=held, accounts=accounts, second_reader=second_reader, other=other)


def reader_route(world: SimpleNamespace) -> SimpleNamespace:
    """Route PH-R1 of small_city's East reader, due today: three flats in walking order 1, 2, 3 (created 2, 3, 1),
    each with four monthly readings of 200 kWh, the last a month before today's; another city's route beside it."""
    today = world.today
    reading_day = readings.on_time_day(today)
    fixed = date(today.year, today.month, reading_day)
    if fixed > today + timedelta(days=2):  # the 1st of next month when today is the 31st
        fixed = readings.months_back(fixed, -1)
    route = registry.route(city=world.city, hall=world.east, code="PH-R1", name="幸福小区", reading_day=reading_day,
                           reader=world.reader)
    stops = {}
    for walk, flat, last in ((2, "2单元101", 5200), (3, "2单元102", 7300), (1, "1单元101", 3100)):
        account, meter = registry.metered_account(
            city=world.city, hall=world.east, number=f"11000700{walk:02d}", name=f"住户{flat}",
            phone=f"1350000{walk:04d}", address=f"示范市幸福小区{flat}", route=route, walk_order=walk,
            opened=date(2023, 1, 1), asset_number=f"PHM{walk:04d}", installed=date(2023, 1, 1))
        for back in range(4, 0, -1):
            day = readings.months_back(fixed, back)
            readings.read(meter, account, day, Decimal(last - 200 * (back - 1)), read_at=readings.utc(day),
                          created_at=readings.stored_at(day))
        stops[walk] = (account, meter, Decimal(last))
    other_route = registry.route(city=world.other_city, hall=world.other_hall, code="PH-OTHER",
                                 reading_day=reading_day)
    _stranger, stranger_meter = registry.metered_account(
        city=world.other_city, hall=world.other_hall, number="2200070099", name="邻市住户", phone="13500009999",
        address="邻市某街1号", route=other_route, walk_order=1, asset_number="PHM9999", installed=date(2023, 1, 1))
    world.route = route
    world.stops = stops
    world.stranger_meter = stranger_meter
    return world


# --- the held-out city and the paying demo city -----------------------------------------------------------------

def held_out_city() -> City:
    """Company, city and hall HLD and the auditor hld_auditor of examples/heldout/ (the registry is imported from its
    files by the test, as a utility would)."""
    company = org.company(code="HLD", name="留城供电公司")
    city = org.city(company=company, code="HLD", name="留城", province="BJ")
    hall = org.hall(city=city, code="HLD-CITY", name="留城营业厅")
    org.staff("hld_auditor", hall=hall, roles=(Role.Code.AUDITOR,))
    return city


PAYING_PERIODS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]


def paying_city() -> dict:
    """The demo company's city SFS: three halls with a clerk each, 40 accounts (a third on bank withholding), six
    months billed and posted."""
    company = org.company(code="DEMO", name="示范供电公司")
    city = org.city(company=company, code="SFS", name="示范市", province="BJ")
    halls = [org.hall(city=city, code=code, name=code, kind=kind)
             for code, kind in (("SFS-CITY", Hall.Kind.CITY), ("SFS-COUNTY", Hall.Kind.COUNTY),
                                ("SFS-RURAL", Hall.Kind.RURAL))]
    for hall in halls:
        org.staff(f"clerk_{hall.kind.lower()}", hall=hall, display_name="柜员", roles=(Role.Code.CLERK,))
    accounts = [registry.account(city=city, hall=halls[n % 3], number=f"1019{n:06d}", name=f"客户{n}",
                                 address=f"人民路{n}号", bank_withholding=n % 3 == 0) for n in range(40)]
    for period in PAYING_PERIODS:
        year, month = (int(p) for p in period.split("-"))
        issued = date(year, month, 28)
        created = datetime(year, month, 28, 1, tzinfo=UTC)
        bills = [billing.bill(account=account, period=period, amount_fen=9000 + 137 * n + 1000 * month,
                              kwh=Decimal("200.00"), start=date(year, month, 1), end=issued, issued=issued,
                              due=issued + timedelta(days=15), created_at=created)
                 for n, account in enumerate(accounts)]
        post_bills(bills=bills, created_at=created)
    return {"city": city, "accounts": accounts, "halls": halls}
