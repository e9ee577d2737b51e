"""Synthetic cities of any size for tests and benchmarks: the demo's generator, streamed in batches."""
from __future__ import annotations

import math
import time
import zlib
from datetime import date

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Max

from gridcounter.application.bulk import prepare_connection, refresh_statistics
from gridcounter.application.demo._bulk import load_generated
from gridcounter.application.demo._generator import Generator, RouteSlot
from gridcounter.application.demo._registry import MODELS, reading_day
from gridcounter.application.registry import ensure_roles, known_tariffs
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.org.models import City, Company, Hall, StaffUser
from gridcounter.data.registry.models import Account, Route

COMPANY = ("SEED", "合成供电公司")
ACCOUNTS_PER_ROUTE = 150
ROUTES_PER_READER = 8
MAX_SERIAL = 9_999_999
HALLS = (("CITY", "城区营业厅", 0.6), ("COUNTY", "县营业厅", 0.25), ("RURAL", "供电所", 0.15))


class SeedError(ValueError):
    """The synthetic city cannot be made as asked (prefix taken, too many accounts)."""


def account_prefix(city_code: str) -> str:
    """Three digits every account number of the seeded city starts with (200–999, from the city code)."""
    return str(200 + zlib.crc32(city_code.encode()) % 800)


def seed_city(*, accounts: int, city_code: str, as_of: date, stdout, batch_size: int = 20_000,
              prefix: str | None = None) -> dict:
    """Add `accounts` synthetic accounts to city `city_code` (created with three halls if new).

    Each batch is its own transaction; nothing is kept in memory beyond one batch. Returns the counts.
    Raises SeedError.
    """
    prefix = prefix or account_prefix(city_code)
    actor = Actor(reason=f"seed {accounts} accounts", channel="SYSTEM")
    with acting_as(actor), transaction.atomic():
        roles = ensure_roles()
        company, _ = Company.objects.get_or_create(code=COMPANY[0], defaults={"name": COMPANY[1]})
        city, _ = City.objects.get_or_create(code=city_code, defaults={"company": company, "province": "BJ",
                                                                       "name": f"合成市{city_code}"})
        if Account.objects.filter(number__startswith=prefix).exclude(city=city).exists():
            raise SeedError(f"account numbers {prefix}… are used by another city; choose another --prefix")
        last = Account.objects.filter(city=city, number__startswith=prefix).aggregate(m=Max("number"))["m"]
        first_serial = int(last[3:]) if last else 0
        if first_serial + accounts > MAX_SERIAL:
            raise SeedError(f"at most {MAX_SERIAL - first_serial} more accounts fit under prefix {prefix}")
        halls = []
        for kind, suffix, share in HALLS:
            hall, _ = Hall.objects.get_or_create(code=f"{city_code}-{kind}", defaults={
                "city": city, "kind": kind, "name": f"{city.name}{suffix}"})
            halls.append((hall, share))
        n_routes = max(1, math.ceil(accounts / ACCOUNTS_PER_ROUTE))
        route_base = Route.objects.filter(city=city).count()
        n_readers = math.ceil(n_routes / ROUTES_PER_READER)
        reader_base = StaffUser.objects.filter(hall__city=city, roles__code="METER_READER").count()
        unusable = make_password(None)
        readers = StaffUser.objects.bulk_create([
            StaffUser(username=f"{city_code.lower()}_reader{reader_base + i + 1:05d}", password=unusable,
                      display_name=f"抄表员{reader_base + i + 1}", hall=halls[0][0])
            for i in range(n_readers)
        ])
        StaffUser.roles.through.objects.bulk_create(
            [StaffUser.roles.through(staffuser_id=r.pk, role_id=roles["METER_READER"].pk) for r in readers])
        routes = []
        hall_of_route = []
        for i in range(n_routes):
            share_point = i / n_routes
            hall = halls[0][0] if share_point < 0.6 else halls[1][0] if share_point < 0.85 else halls[2][0]
            number = route_base + i + 1
            routes.append(Route(city=city, hall=hall, code=f"{city_code}-R{number:05d}", name=f"第{number}抄表段",
                                reading_day=reading_day(number), reader=readers[i // ROUTES_PER_READER]))
            hall_of_route.append(hall)
        routes = Route.objects.bulk_create(routes)
    per_route, extra = divmod(accounts, n_routes)
    slots = [RouteSlot(route_id=r.pk, hall_id=h.pk, hall_kind=h.kind, quota=per_route + (1 if i < extra else 0))
             for i, (r, h) in enumerate(zip(routes, hall_of_route, strict=True))]
    tou = {t.id: t.tou_registers for t in known_tariffs().values() if t.tou_registers is not None}
    generator = Generator(seed=zlib.crc32(f"{city_code}:{first_serial}".encode()), city_id=city.pk,
                          city_name=city.name, province_code="11", account_prefix=prefix, first_serial=first_serial,
                          as_of=as_of, tou_registers=tou)
    prepare_connection()
    started = time.monotonic()
    done = meters = 0

    def flush(batch):
        nonlocal done, meters
        with acting_as(actor), transaction.atomic():
            counts = load_generated(batch, models_by_name=MODELS)
        done += counts["accounts"]
        meters += counts["meters"]
        elapsed = time.monotonic() - started
        stdout.write(f"  {done}/{accounts} accounts ({done / elapsed:,.0f}/s)\n")

    batch = []
    for generated in generator.accounts(slots):
        batch.append(generated)
        if len(batch) >= batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    refresh_statistics()
    elapsed = time.monotonic() - started
    with acting_as(actor):
        record_event(action="SEED_LOADED", obj=city,
                     detail={"accounts": done, "meters": meters, "routes": n_routes, "readers": n_readers,
                             "prefix": prefix, "as_of": as_of.isoformat()})
    return {"city": city_code, "accounts": done, "meters": meters, "routes": n_routes, "readers": n_readers,
            "seconds": round(elapsed, 2), "accounts_per_second": round(done / elapsed) if elapsed else None}
