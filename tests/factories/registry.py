"""Customers, premises, accounts, meters, installations and routes, made through the registry's use cases.

Every row here goes in as the counter or an import would put it: `create_customer`, `create_premise`,
`create_account`, `create_meter`, `install_meter`, `exchange_meter`, `create_route` and `change_account`, each
checked (resident ID check digit, 10-digit account number, known tariff for the usage category, readings that fit
the meter) and audited under `ACTOR` unless another actor is given.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import count

from gridcounter.application import registry
from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import City, Hall, StaffUser
from gridcounter.data.registry.models import Account, Customer, Installation, Meter, Premise, Route
from gridcounter.domain.registry import resident_id_check_digit

ACTOR = Actor(reason="test data", channel="SYSTEM")
_serial = count(1)


def resident_id(n: int | None = None) -> str:
    """A valid 18-character resident identity number (Beijing Dongcheng, born 1950 or later), distinct for each n."""
    n = next(_serial) if n is None else n
    born = date(1950, 1, 1) + timedelta(days=n // 1000 % 20000)
    first17 = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return first17 + resident_id_check_digit(first17)


def customer(*, name: str, id_number: str | None = None, id_type: str = Customer.IdType.RESIDENT_ID, phone: str = "",
             actor: Actor = ACTOR) -> Customer:
    """`registry.create_customer`; a resident gets a valid ID number of its own unless one is given."""
    if id_number is None:
        id_number = resident_id() if id_type == Customer.IdType.RESIDENT_ID else f"X{next(_serial)}"
    return registry.create_customer(name=name, id_type=id_type, id_number=id_number, phone=phone, actor=actor)


def premise(*, city: City, address: str, building: str = "", actor: Actor = ACTOR) -> Premise:
    return registry.create_premise(city=city, address=address, building=building, actor=actor)


def route(*, city: City, hall: Hall, code: str, reading_day: int, reader: StaffUser | None = None, name: str = "",
          actor: Actor = ACTOR) -> Route:
    return registry.create_route(city=city, hall=hall, code=code, reading_day=reading_day, reader=reader, name=name,
                                 actor=actor)


def meter(*, asset_number: str, digits: int = 6, multiplier=1, registers=("TOTAL",), actor: Actor = ACTOR) -> Meter:
    return registry.create_meter(asset_number=asset_number, digits=digits, multiplier=Decimal(str(multiplier)),
                                 registers=list(registers), actor=actor)


def install(*, account: Account, meter: Meter, installed: date, initial: dict | None = None,
            actor: Actor = ACTOR) -> Installation:
    return registry.install_meter(account=account, meter=meter, installed_date=installed,
                                  initial_readings=dict(initial or {}), actor=actor)


def exchange(*, account: Account, old: Meter, new: Meter, on: date, final: dict, initial: dict,
             actor: Actor = ACTOR) -> tuple[Installation, Installation]:
    """`registry.exchange_meter`: `old` serves until `on` (exclusive), `new` from `on`."""
    return registry.exchange_meter(account=account, old_meter=old, new_meter=new, exchange_date=on,
                                   final_readings=final, initial_readings=initial, actor=actor)


def account(*, city: City, hall: Hall, number: str, name: str, address: str, building: str = "",
            id_number: str | None = None, id_type: str = Customer.IdType.RESIDENT_ID, phone: str = "",
            route: Route | None = None, walk_order: int = 0, tariff: str = "BJ-RES-LT1KV",
            category: str = "RESIDENTIAL", voltage: str = "LV_220V", household_size: int | None = None,
            capacity_kva=None, bank_withholding: bool = False, opened: date | None = None,
            actor: Actor = ACTOR) -> Account:
    """A customer at a premise of `city` with an account at `hall`: three use cases, no meter yet."""
    owner = customer(name=name, id_number=id_number, id_type=id_type, phone=phone, actor=actor)
    place = premise(city=city, address=address, building=building, actor=actor)
    return registry.create_account(
        number=number, customer=owner, premise=place, home_hall=hall, usage_category=category, tariff_id=tariff,
        voltage=voltage, household_size=household_size, capacity_kva=capacity_kva, route=route,
        walk_order=walk_order, bank_withholding=bank_withholding, opened_date=opened, actor=actor)


def metered_account(*, asset_number: str, installed: date, digits: int = 6, multiplier=1, registers=("TOTAL",),
                    initial: dict | None = None, actor: Actor = ACTOR, **fields) -> tuple[Account, Meter]:
    """`account(**fields)` with a new meter installed from `installed` (initial readings as given, none by default)."""
    made = account(actor=actor, **fields)
    fitted = meter(asset_number=asset_number, digits=digits, multiplier=multiplier, registers=registers, actor=actor)
    install(account=made, meter=fitted, installed=installed, initial=initial, actor=actor)
    return made, fitted


def namesakes(*, city: City, hall: Hall, surname: str, number_prefix: str, village: str, n: int = 25) -> list[Account]:
    """`n` residential accounts at `hall` whose customers share a surname: more than a search page holds."""
    return [account(city=city, hall=hall, number=f"{number_prefix}{i:08d}", name=f"{surname}{i:02d}",
                    address=f"示范市{village}{i}号") for i in range(n)]
