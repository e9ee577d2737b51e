"""Demo step: 24 months of fixed-day readings for every demo account, with one planted case per rule.

History goes in with bulk inserts (no per-row history; one audit event records the load). The most
recent fixed day of the planted accounts goes through the real use cases (submit_reading,
estimate_missing, validate_route_period), so their codes are what production would give. The
DEMO_READINGS_LOADED audit event's detail["planted"] maps each case to its account number(s).
"""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction

from gridcounter.application.demo._bulk import allocate_ids, insert_rows, prepare_connection
from gridcounter.application.readings import (
    EstimateRefused,
    estimate_missing,
    submit_reading,
    validate_route_period,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation, Meter, Route
from gridcounter.domain.business_time import BUSINESS_TZ

SEED = 20240615
MONTHS = 24
ACTOR = Actor(reason="demo reading history", channel="SYSTEM")
LOADED = "DEMO_READINGS_LOADED"
CENT = Decimal("0.01")
# residential seasonal profile by month of use: winter heating bump, summer air-conditioning peak (Jul-Aug)
SEASON = {1: 1.30, 2: 1.20, 3: 0.95, 4: 0.85, 5: 0.90, 6: 1.10, 7: 1.75, 8: 1.85, 9: 1.20, 10: 0.90, 11: 0.95,
          12: 1.25}
# commercial and industry: flatter, with a smaller summer cooling load
SEASON_FLAT = {m: 1.0 + (0.25 if m in (7, 8) else 0.1 if m in (1, 12) else 0.0) for m in range(1, 13)}
# time-of-use split of active energy (a residential evening peak; the valley is the night)
TOU_SHARE = {"PEAK": 0.42, "FLAT": 0.33, "VALLEY": 0.25, "CRITICAL_PEAK": 0.05}
CASES = ["CLEAN", "DECREASE", "ROLLOVER", "SPIKE", "HIGH", "LOW", "ZERO_STREAK", "OFF_SCHEDULE", "MISSED",
         "DUPLICATE", "ESTIMATE_STREAK", "SWAP_SUSPECTED", "SEASONAL_PEAK", "BILL_SHOCK"]


def _month_shift(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    return date(day.year + month0 // 12, month0 % 12 + 1, day.day)


def last_fixed_day(*, reading_day: int, as_of: date) -> date:
    """The route's last fixed reading day on or before ``as_of``."""
    day = date(as_of.year, as_of.month, reading_day)
    return day if day <= as_of else _month_shift(day, -1)


def month_of_use(fixed: date) -> int:
    """The calendar month most of the cycle ending on ``fixed`` falls in."""
    return _month_shift(fixed, -1).month if fixed.day < 16 else fixed.month


def _stamper():
    """Timestamps as the database takes them raw: naive UTC text on SQLite, aware on PostgreSQL."""
    naive = connection.vendor == "sqlite"
    cache = {}

    def stamp(day: date, hour: int):
        key = (day, hour)
        if key not in cache:
            moment = _at(day, hour).astimezone(UTC)
            cache[key] = moment.replace(tzinfo=None).isoformat(" ") if naive else moment
        return cache[key]

    return stamp


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), BUSINESS_TZ)


def _daily_kwh(rng: random.Random, category: str, household: int | None) -> float:
    """Typical daily use in kWh of an account of this category."""
    if category == "RESIDENTIAL":
        return (2.5 + 1.6 * (household or 3)) * rng.uniform(0.7, 1.3)
    if category == "SHARED_METER_RESIDENTIAL":
        return rng.uniform(60, 200)
    if category == "GENERAL_COMMERCIAL":
        return rng.uniform(25, 400)
    if category == "LARGE_INDUSTRY":
        return rng.uniform(8000, 60000)
    return rng.uniform(10, 80)


def _split(total: float, registers: list[str]) -> dict[str, float]:
    """Per register advance for a cycle of ``total`` kWh."""
    tou = [r for r in registers if r in TOU_SHARE]
    share = sum(TOU_SHARE[r] for r in tou)
    out = {r: total * TOU_SHARE[r] / share for r in tou}
    if "TOTAL" in registers:
        out["TOTAL"] = total
    if "REACTIVE" in registers:
        out["REACTIVE"] = total * 0.42  # power factor about 0.92
    return out


def is_loaded() -> bool:
    return AuditEvent.objects.filter(action=LOADED).exists()


def build(*, as_of: date, stdout) -> None:
    """Load the reading history and the planted cases once; a second run says so and does nothing."""
    if is_loaded():
        stdout.write("readings: the demo reading history is already loaded; nothing to do.\n")
        return
    rng = random.Random(SEED)
    installations = list(
        Installation.objects.filter(removed_date__isnull=True, account__route__isnull=False)
        .select_related("meter", "account__route", "account__premise").order_by("account__number"))
    if not installations:
        stdout.write("readings: no demo accounts; nothing to do.\n")
        return
    planted = _choose_cases(installations, rng)
    plan = {}
    for case, insts in planted.items():
        for inst in insts:
            plan[inst.account_id] = case
    rows: list[dict] = []
    stamp = _stamper()
    last_values: dict[tuple[int, str], tuple[date, Decimal, float]] = {}
    for inst in installations:
        account, meter = inst.account, inst.meter
        case = plan.get(account.pk)
        last = last_fixed_day(reading_day=account.route.reading_day, as_of=as_of)
        days = [d for d in (_month_shift(last, -k) for k in range(MONTHS, -1, -1)) if d >= inst.installed_date]
        if len(days) < 2:
            continue
        registers = list(meter.registers or ["TOTAL"])
        span = 10 ** meter.digits
        daily = _daily_kwh(rng, account.usage_category, account.household_size) / float(meter.multiplier)
        season = SEASON if account.usage_category.endswith("RESIDENTIAL") else SEASON_FLAT
        if case == "SEASONAL_PEAK":
            # this account's air-conditioning peak falls on the most recent cycle, this year and last
            season = {m: 3.0 if m == month_of_use(last) else 1.0 for m in range(1, 13)}
        cumulative = {r: [0.0] for r in registers}
        for i in range(1, len(days)):
            total = daily * (days[i] - days[i - 1]).days * season[month_of_use(days[i])] * rng.uniform(0.93, 1.07)
            if case == "ZERO_STREAK" and i >= len(days) - 3:
                total = 0.0
            for register, advance in _split(total, registers).items():
                cumulative[register].append(cumulative[register][-1] + advance)
        start = {r: rng.uniform(0.02, 0.25) * span for r in registers}
        if case == "ROLLOVER":  # the dial stands just below 10^digits at the previous fixed day
            start = {r: span - c[-2] - 0.4 * (c[-1] - c[-2]) for r, c in cumulative.items()}
        if case == "SWAP_SUSPECTED" and inst is planted[case][1]:
            start = {r: v + 0.3 * span for r, v in start.items()}
        stop = len(days) - 1 if case is not None else len(days)
        for register in registers:
            values = [Decimal((start[register] + c) % span).quantize(CENT, rounding=ROUND_HALF_UP)
                      for c in cumulative[register]]
            if case is not None:
                # the planted reading of the most recent fixed day goes through the use cases below
                use = cumulative[register][-1] - cumulative[register][-2]
                last_values[(account.pk, register)] = (days[-1], values[-1], use)
            for i in range(stop):
                estimate = case == "ESTIMATE_STREAK" and i >= len(days) - 3
                rows.append({
                    "meter_id": meter.pk, "account_id": account.pk, "register": register,
                    "read_at": stamp(days[i], 0 if estimate else 10), "read_date": days[i], "value": values[i],
                    "source": "ESTIMATE" if estimate else "AMI", "is_estimate": estimate, "status": "ACCEPTED",
                    "created_at": stamp(days[i], 11)})
    with acting_as(ACTOR), transaction.atomic():
        prepare_connection()
        for start in range(0, len(rows), 20000):
            chunk = rows[start:start + 20000]
            for row, pk in zip(chunk, allocate_ids(Reading, len(chunk)), strict=True):
                row["id"] = pk
            insert_rows(Reading, chunk)
        recent, spare = _plant(planted, last_values, as_of=as_of)
        routes = Route.objects.filter(pk__in={i.account.route_id for i in installations}).order_by("code")
        held = 0
        for route in routes:
            fixed = last_fixed_day(reading_day=route.reading_day, as_of=as_of)
            start = fixed.replace(day=1)
            report = validate_route_period(route=route, period_start=start, period_end=_month_shift(start, 1),
                                           created_at=_at(as_of, 12))
            held += len(report.held)
        detail = {"as_of": as_of.isoformat(), "readings": len(rows) + recent, "months": MONTHS,
                  "planted": {case: [i.account.number for i in insts] for case, insts in planted.items()},
                  "held_accounts": held}
        detail["planted"]["INACTIVE_METER"] = [spare]  # a meter's asset number: it serves no account
        record_event(action=LOADED, detail=detail)
    stdout.write(f"readings: loaded {detail['readings']} readings ({MONTHS} months) for {len(installations)} "
                 f"accounts; {held} accounts held for review in the latest period.\n")
    for case, numbers in detail["planted"].items():
        stdout.write(f"  planted {case}: {', '.join(numbers)}\n")


def _choose_cases(installations: list[Installation], rng: random.Random) -> dict[str, list]:
    """Active residential single-register accounts, one (two for swaps) per case; other buildings each."""
    simple = [i for i in installations if i.account.status == Account.Status.ACTIVE
              and i.account.usage_category == "RESIDENTIAL" and list(i.meter.registers) == ["TOTAL"]]
    by_building = defaultdict(list)
    for inst in simple:
        by_building[(inst.account.premise.city_id, inst.account.premise.building)].append(inst)
    buildings = sorted(k for k, v in by_building.items() if len(v) >= 2 and k[1])
    rng.shuffle(buildings)
    planted: dict[str, list] = {}
    used = set()
    swap_building = buildings.pop()
    planted["SWAP_SUSPECTED"] = by_building[swap_building][:2]
    used.add(swap_building)
    # bill shock on a flat tariff: on tiered ones a doubled usage crosses a tier, which explains the bill
    flat = [i for i in installations if i.account.status == Account.Status.ACTIVE
            and i.account.tariff_id == "BJ-RES-SHARED" and list(i.meter.registers) == ["TOTAL"]]
    if flat:
        planted["BILL_SHOCK"] = [flat[0]]
    for case in CASES:
        if case in planted:
            continue
        while True:
            key = buildings.pop()
            if key not in used:
                break
        used.add(key)
        planted[case] = [by_building[key][0]]
    return planted


def _plant(planted: dict[str, list], last_values: dict, *, as_of: date) -> tuple[int, str]:
    """Submit the most recent reading of every planted account through the use cases, and one reading of a
    meter that is installed nowhere (INACTIVE_METER). Returns (readings made, that meter's asset number)."""
    made = 0
    received = _at(as_of, 12)

    def submit(inst, value, *, day=None, meter=None, source="AMI"):
        nonlocal made
        fixed, _v, _use = last_values[(inst.account_id, "TOTAL")]
        submit_reading(meter=meter or inst.meter, register="TOTAL", read_at=_at(day or fixed), value=value,
                       source=source, actor=ACTOR, received_at=received)
        made += 1

    def normal(inst):
        return last_values[(inst.account_id, "TOTAL")][1]

    def with_use(inst, factor):
        fixed, value, use = last_values[(inst.account_id, "TOTAL")]
        span = Decimal(10) ** inst.meter.digits
        prev = value - Decimal(use).quantize(CENT, rounding=ROUND_HALF_UP)
        return ((prev + Decimal(use * factor)) % span).quantize(CENT, rounding=ROUND_HALF_UP), prev

    for case, insts in planted.items():
        inst = insts[0]
        if case in ("CLEAN", "ROLLOVER", "ZERO_STREAK", "SEASONAL_PEAK"):
            submit(inst, normal(inst))
        elif case == "DECREASE":
            _value, prev = with_use(inst, 0)
            submit(inst, (prev - Decimal(50)).quantize(CENT))
        elif case == "SPIKE":
            submit(inst, with_use(inst, 10)[0])
        elif case == "HIGH":
            submit(inst, with_use(inst, 3.2)[0])
        elif case == "BILL_SHOCK":  # twice the usual: inside the reading band, but the bill is a shock
            submit(inst, with_use(inst, 2.0)[0])
        elif case == "LOW":
            submit(inst, with_use(inst, 0.12)[0])
        elif case == "OFF_SCHEDULE":
            fixed = last_values[(inst.account_id, "TOTAL")][0]
            day = fixed + timedelta(days=5) if fixed + timedelta(days=5) <= as_of else fixed - timedelta(days=5)
            submit(inst, with_use(inst, 1 + 5 / 30 if day > fixed else 1 - 5 / 30)[0], day=day, source="HANDHELD")
        elif case == "MISSED":
            pass  # no reading: validate_route_period reports it
        elif case == "DUPLICATE":
            submit(inst, normal(inst))
            submit(inst, (normal(inst) + Decimal(37)).quantize(CENT), source="HANDHELD")
        elif case == "ESTIMATE_STREAK":
            fixed = last_values[(inst.account_id, "TOTAL")][0]
            try:
                estimate_missing(account=inst.account, register="TOTAL", read_date=fixed, actor=ACTOR,
                                 received_at=received)
            except EstimateRefused:
                pass  # refused with ESTIMATE_STREAK and a site visit ordered: the planted case
        elif case == "SWAP_SUSPECTED":
            a, b = insts
            use_a = with_use(a, 1)[0] - with_use(a, 0)[1]
            use_b = with_use(b, 1)[0] - with_use(b, 0)[1]
            submit(a, (with_use(b, 0)[1] + use_b).quantize(CENT))
            submit(b, (with_use(a, 0)[1] + use_a).quantize(CENT))
    removed = next((m for m in Meter.objects.filter(installations__removed_date__isnull=False)
                    .exclude(installations__removed_date__isnull=True).order_by("asset_number")
                    if "TOTAL" in (m.registers or [])), None)
    if removed is None:
        removed = Meter.objects.create(asset_number="DEMO-SPARE-0001", digits=6, registers=["TOTAL"])
    fixed = last_values[(planted["CLEAN"][0].account_id, "TOTAL")][0]
    submit_reading(meter=removed, register="TOTAL", read_at=_at(fixed), value=Decimal("1234.00"), source="HANDHELD",
                   actor=ACTOR, received_at=received, note="demo: a meter that is installed nowhere")
    return made + 1, removed.asset_number
