"""Demo step 1: the demonstration company, its two cities, halls, staff (every role), routes and 5,500 accounts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.contrib.auth.hashers import make_password
from django.db import transaction

from gridcounter.application.demo._bulk import load_generated
from gridcounter.application.demo._generator import TARIFF_MIX, Generator, RouteSlot
from gridcounter.application.registry import ensure_roles, known_tariffs
from gridcounter.application.withholding import bank_rules
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.org.models import City, Company, Hall, StaffUser
from gridcounter.data.registry.models import Account, Customer, Installation, Meter, Premise, Route
from gridcounter.data.withholding.models import Mandate
from gridcounter.domain.business_time import BUSINESS_TZ

DEMO_PASSWORD = "gridcounter-demo"
COMPANY = ("DEMO", "示范供电公司")
SEED = 20240601
BATCH = 2000
MODELS = {"customer": Customer, "premise": Premise, "account": Account, "meter": Meter, "installation": Installation}


@dataclass(frozen=True)
class CitySpec:
    code: str
    name: str
    province: str  # settings-level province code (BJ …)
    id_province: str  # the two digits resident IDs start with
    account_prefix: str
    accounts: int
    halls: tuple[tuple[str, str, str, str], ...]  # code, name, kind, address
    routes_per_hall: dict[str, int]


CITIES = (
    CitySpec("SFS", "示范市", "BJ", "11", "101", 5000,
             (("SFS-CITY", "示范市城区营业厅", "CITY", "示范市城区人民路1号"),
              ("SFS-COUNTY", "示范县营业厅", "COUNTY", "示范县城关镇建设路8号"),
              ("SFS-RURAL", "青石镇供电所", "RURAL", "示范县青石镇胜利街3号")),
             {"SFS-CITY": 24, "SFS-COUNTY": 12, "SFS-RURAL": 6}),
    CitySpec("LS", "邻市", "ZJ", "33", "102", 500,
             (("LS-CITY", "邻市城区营业厅", "CITY", "邻市城区中山路66号"),),
             {"LS-CITY": 5}),
)


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    roles: tuple[str, ...]
    hall: str
    superuser: bool = False
    routes: tuple[int, int] | None = None  # [first, last) route index in its hall the reader reads


DEMO_USERS = (
    DemoUser("admin", "系统管理员", ("ADMIN",), "SFS-CITY", superuser=True),
    DemoUser("supervisor", "张主管", ("SUPERVISOR",), "SFS-CITY"),
    DemoUser("clerk_city", "李柜员", ("CLERK",), "SFS-CITY"),
    DemoUser("clerk_county", "王柜员", ("CLERK",), "SFS-COUNTY"),
    DemoUser("clerk_rural", "赵柜员", ("CLERK",), "SFS-RURAL"),
    DemoUser("auditor", "陈核算", ("AUDITOR",), "SFS-CITY"),
    DemoUser("installer", "刘装表", ("INSTALLER",), "SFS-CITY"),
    DemoUser("manager", "周经理", ("ACCOUNT_MANAGER",), "SFS-CITY"),
    DemoUser("reader01", "孙抄表", ("METER_READER",), "SFS-CITY", routes=(0, 8)),
    DemoUser("reader02", "吴抄表", ("METER_READER",), "SFS-CITY", routes=(8, 16)),
    DemoUser("reader03", "郑抄表", ("METER_READER",), "SFS-CITY", routes=(16, 24)),
    DemoUser("reader04", "冯抄表", ("METER_READER",), "SFS-COUNTY", routes=(0, 6)),
    DemoUser("reader05", "褚抄表", ("METER_READER",), "SFS-COUNTY", routes=(6, 12)),
    DemoUser("reader06", "卫抄表", ("METER_READER",), "SFS-RURAL", routes=(0, 6)),
    DemoUser("ls_clerk", "蒋柜员", ("CLERK",), "LS-CITY"),
    DemoUser("ls_supervisor", "沈主管", ("SUPERVISOR",), "LS-CITY"),
    DemoUser("ls_reader", "韩抄表", ("METER_READER",), "LS-CITY", routes=(0, 5)),
)

DEMO_ACTOR = Actor(reason="demo loaded", channel="SYSTEM")


def is_loaded() -> bool:
    return Company.objects.filter(code=COMPANY[0]).exists()


def login_table() -> list[dict]:
    """username, roles, hall, password of every demo login."""
    halls = {code: name for spec in CITIES for code, name, _kind, _address in spec.halls}
    return [{"username": u.username, "roles": ", ".join(u.roles), "hall": halls[u.hall], "password": DEMO_PASSWORD}
            for u in DEMO_USERS]


def reading_day(index: int) -> int:
    """Fixed reading days spread over 1–28 (route i of a city)."""
    return 1 + (index * 11) % 28


def sign_demo_mandates(*, city: City, clerk: StaffUser) -> int:
    """A mandate for each account of ``city`` the generator marked as paying by withholding, signed at its home
    hall on the day it was opened, at one of the banks of rules/banks.toml in turn; the bank account ends in the
    digits of the account's masked reference. Returns how many were signed."""
    banks = sorted(bank_rules().banks)
    rows = []
    for account_id, hall_id, ref, opened, holder in (
            Account.objects.filter(city=city, bank_withholding=True)
            .values_list("pk", "home_hall_id", "bank_account_ref", "opened_date", "customer__name").order_by("pk")):
        signed = opened or date(2020, 1, 1)
        rows.append(Mandate(
            account_id=account_id, bank_code=banks[account_id % len(banks)], holder_name=holder[:60],
            bank_account=f"622202{account_id:09d}{(ref or '0000')[-4:]}", signed_date=signed,
            signed_at=datetime.combine(signed, time(10), tzinfo=BUSINESS_TZ), signed_hall_id=hall_id,
            signed_by=clerk))
    Mandate.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def build(*, as_of: date, stdout) -> None:
    """Build the demo company, cities, staff and registry once; a second run says so and does nothing."""
    if is_loaded():
        stdout.write("registry: the demo city is already loaded; nothing to do.\n")
        return
    with acting_as(DEMO_ACTOR), transaction.atomic():
        roles = ensure_roles()
        company = Company.objects.create(code=COMPANY[0], name=COMPANY[1])
        password = make_password(DEMO_PASSWORD)  # one hash for all demo users keeps the load fast
        tou = {t.id: t.tou_registers for t in known_tariffs().values() if t.tou_registers is not None}
        total_accounts = total_meters = total_routes = 0
        for spec in CITIES:
            city = City.objects.create(company=company, code=spec.code, name=spec.name, province=spec.province)
            halls = {code: Hall.objects.create(city=city, code=code, name=name, kind=kind, address=address)
                     for code, name, kind, address in spec.halls}
            users = {}
            for demo_user in (u for u in DEMO_USERS if u.hall in halls):
                user = StaffUser.objects.create(
                    username=demo_user.username, display_name=demo_user.display_name, password=password,
                    hall=halls[demo_user.hall], is_staff=demo_user.superuser, is_superuser=demo_user.superuser,
                    first_name=demo_user.display_name[1:], last_name=demo_user.display_name[:1],
                )
                user.roles.set([roles[r] for r in demo_user.roles])
                users[demo_user.username] = user
            slots = []
            index = 0
            for hall_code, count in spec.routes_per_hall.items():
                hall = halls[hall_code]
                readers = [u for u in DEMO_USERS if u.hall == hall_code and u.routes]
                for n in range(count):
                    reader = next(users[r.username] for r in readers if r.routes[0] <= n < r.routes[1])
                    index += 1
                    route = Route.objects.create(
                        city=city, hall=hall, code=f"{spec.code}-R{index:02d}", name=f"{hall.name}第{n + 1}抄表段",
                        reading_day=reading_day(index), reader=reader,
                    )
                    slots.append((route, hall))
            total_routes += len(slots)
            per_route, extra = divmod(spec.accounts, len(slots))
            route_slots = [RouteSlot(route_id=r.pk, hall_id=h.pk, hall_kind=h.kind,
                                     quota=per_route + (1 if i < extra else 0)) for i, (r, h) in enumerate(slots)]
            generator = Generator(seed=SEED + int(spec.account_prefix), city_id=city.pk, city_name=spec.name,
                                  province_code=spec.id_province, account_prefix=spec.account_prefix,
                                  first_serial=0, as_of=as_of, tou_registers=tou)
            batch = []
            for generated in generator.accounts(route_slots, force_all_tariffs=True):
                batch.append(generated)
                if len(batch) >= BATCH:
                    counts = load_generated(batch, models_by_name=MODELS)
                    total_accounts += counts["accounts"]
                    total_meters += counts["meters"]
                    batch = []
            counts = load_generated(batch, models_by_name=MODELS)
            total_accounts += counts["accounts"]
            total_meters += counts["meters"]
            clerks = [users[u.username] for u in DEMO_USERS if u.hall in halls and "CLERK" in u.roles]
            if clerks:
                sign_demo_mandates(city=city, clerk=clerks[0])
        record_event(action="DEMO_LOADED", obj=company,
                     detail={"accounts": total_accounts, "meters": total_meters, "routes": total_routes,
                             "users": len(DEMO_USERS), "tariffs": [t[0] for t in TARIFF_MIX],
                             "as_of": as_of.isoformat()})
    stdout.write(f"registry: loaded {total_accounts} accounts, {total_meters} meters, {total_routes} routes and "
                 f"{len(DEMO_USERS)} staff users in 2 cities (password {DEMO_PASSWORD}).\n")
