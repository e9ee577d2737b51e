"""Registry use cases: customers, premises, routes, accounts, meters and installations; every write audited."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.org.models import City, Hall, Role
from gridcounter.data.registry.models import (
    Account,
    Customer,
    Installation,
    Meter,
    Premise,
    Route,
    UsageCategory,
    VoltageLevel,
)
from gridcounter.domain.registry import (
    TOU_REGISTERS,
    Interval,
    account_field_problems,
    account_number_problem,
    first_overlap,
    id_number_problem,
    normalise_id_number,
    normalise_phone,
    phone_problem,
    readings_problem,
    registers_problem,
)


class RegistryError(ValueError):
    """A registry change was refused; `field` names the offending field when there is one."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidRegistryData(RegistryError):
    """A value is missing, malformed or does not fit the rest of the record."""


class DuplicateAccountNumber(RegistryError):
    """Another account already has this number."""


class MeterAlreadyInstalled(RegistryError):
    """The meter serves (or served) another account over an overlapping interval."""


class AccountAlreadyMetered(RegistryError):
    """The account already has a meter for one of these registers over an overlapping interval."""


class NotInstalled(RegistryError):
    """The meter is not installed at the account (or not on that date)."""


# --- tariffs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TariffInfo:
    id: str
    usage_categories: frozenset[str] | None  # None: not known (catalogue not loaded; files only)
    tou_registers: tuple[str, ...] | None = None  # time-of-use periods priced; () untimed; None: not known


def _from_catalogue() -> dict[str, TariffInfo] | None:
    # The catalogue module is written alongside this one; until it lands, the tariff files are read.
    try:
        from gridcounter.application.tariffs import get_catalogue
    except ImportError:
        return None
    found: dict[str, TariffInfo] = {}
    for tariff in get_catalogue().tariffs.values():
        periods: set[str] = set()
        for version in tariff.versions:
            periods |= {str(p) for p in (version.prices.tou or {})}
        found[tariff.id] = TariffInfo(
            id=tariff.id, usage_categories=frozenset(tariff.usage_categories) or None,
            tou_registers=tuple(r for r in TOU_REGISTERS if r in periods),
        )
    return found


def _from_files() -> dict[str, TariffInfo]:
    """Until the catalogue exists: tariff ids are the `id` entries (or file names) of tariffs/*.toml."""
    found: dict[str, TariffInfo] = {}
    for folder in settings.GRIDCOUNTER_TARIFF_DIRS:
        for path in sorted(folder.glob("*.toml")):
            ids = []
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                data = {}
            blocks = [data, *[b for v in data.values() if isinstance(v, list) for b in v if isinstance(b, dict)]]
            for block in blocks:
                if isinstance(block.get("id"), str):
                    cats = block.get("usage_categories")
                    ids.append((block["id"], frozenset(cats) if isinstance(cats, list) else None))
            for tariff_id, cats in ids or [(path.stem, None)]:
                found[tariff_id] = TariffInfo(id=tariff_id, usage_categories=cats)
    return found


def known_tariffs() -> dict[str, TariffInfo]:
    """Tariff id -> what the registry checks about it (the catalogue when present, else the tariff files)."""
    from_catalogue = _from_catalogue()
    return from_catalogue if from_catalogue is not None else _from_files()


def tariff_problem(*, tariff_id: str, usage_category: str, tariffs: dict[str, TariffInfo] | None = None) -> str | None:
    """Why the tariff cannot be used for this usage category, or None."""
    tariffs = known_tariffs() if tariffs is None else tariffs
    info = tariffs.get(tariff_id)
    if info is None:
        return _("unknown tariff {tariff}").format(tariff=tariff_id)
    if info.usage_categories is not None and usage_category not in info.usage_categories:
        return _("tariff {tariff} is for {allowed}, not {category}").format(
            tariff=tariff_id, allowed=", ".join(sorted(info.usage_categories)), category=usage_category
        )
    return None


# --- helpers ----------------------------------------------------------------------------------------------


def ensure_roles() -> dict[str, Role]:
    """The seven staff roles exist (created on first use)."""
    return {code: Role.objects.get_or_create(code=code)[0] for code in Role.Code.values}


def _decimal(value, *, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRegistryData(_("{field}: not a number: {value}").format(field=field, value=value), field=field)
    if not number.is_finite():
        raise InvalidRegistryData(_("{field}: not a number: {value}").format(field=field, value=value), field=field)
    return number


def _refuse(problem: str | None, *, field: str) -> None:
    if problem:
        raise InvalidRegistryData(f"{field}: {problem}", field=field)


def _plain(value):
    if isinstance(value, Decimal | date):
        return str(value)
    return value


# --- customers, premises, routes, meters ------------------------------------------------------------------


def create_customer(*, name: str, id_type: str, id_number: str, phone: str = "", phone_alt: str = "",
                    kind: str | None = None, actor: Actor) -> Customer:
    """Register a customer; returns the existing one when the same ID is registered already.

    Raises InvalidRegistryData (unknown ID type, bad ID number or phone, empty name).
    """
    id_number = normalise_id_number(id_number)
    phone = normalise_phone(phone) if phone else ""
    if id_type not in Customer.IdType.values:
        raise InvalidRegistryData(_("id_type: unknown ID type {value}").format(value=id_type), field="id_type")
    _refuse(id_number_problem(id_type=id_type, number=id_number), field="id_number")
    if phone:
        _refuse(phone_problem(phone), field="phone")
    if not name.strip():
        raise InvalidRegistryData(_("name: must not be empty"), field="name")
    kind = kind or (Customer.Kind.ORGANISATION if id_type == Customer.IdType.USCC else Customer.Kind.PERSON)
    with acting_as(actor), transaction.atomic():
        customer, created = Customer.objects.get_or_create(
            id_type=id_type, id_number=id_number,
            defaults={"name": name.strip(), "phone": phone, "phone_alt": phone_alt, "kind": kind},
        )
        if created:
            record_event(action="CUSTOMER_CREATED", obj=customer, detail={"name": customer.name})
    return customer


CUSTOMER_CHANGEABLE = ("name", "phone", "phone_alt", "kind")


def change_customer(*, customer: Customer, changes: dict, actor: Actor) -> dict:
    """Change a customer's name, phones or kind; returns {field: [old, new]} (empty when nothing changed).

    Raises InvalidRegistryData.
    """
    unknown = set(changes) - set(CUSTOMER_CHANGEABLE)
    if unknown:
        raise InvalidRegistryData(_("cannot change {fields} here").format(fields=", ".join(sorted(unknown))),
                                  field=sorted(unknown)[0])
    changes = dict(changes)
    for field in ("phone", "phone_alt"):
        if changes.get(field):
            changes[field] = normalise_phone(changes[field])
            _refuse(phone_problem(changes[field]), field=field)
    if "name" in changes and not str(changes["name"]).strip():
        raise InvalidRegistryData(_("name: must not be empty"), field="name")
    with acting_as(actor), transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        diff = _apply(customer, changes)
        if diff:
            customer.save()
            record_event(action="CUSTOMER_CHANGED", obj=customer, detail={"changes": diff})
    return diff


def create_premise(*, city: City, address: str, building: str = "", actor: Actor) -> Premise:
    """The premise at this address in the city (created when new). Raises InvalidRegistryData."""
    if not address.strip():
        raise InvalidRegistryData(_("address: must not be empty"), field="address")
    with acting_as(actor), transaction.atomic():
        premise, created = Premise.objects.get_or_create(
            city=city, address=address.strip(), defaults={"building": building.strip()}
        )
        if created:
            record_event(action="PREMISE_CREATED", obj=premise, detail={"address": premise.address})
    return premise


def change_premise(*, premise: Premise, building: str, actor: Actor) -> dict:
    """Correct the building a premise belongs to; returns {field: [old, new]}."""
    with acting_as(actor), transaction.atomic():
        premise = Premise.objects.select_for_update().get(pk=premise.pk)
        diff = _apply(premise, {"building": building.strip()})
        if diff:
            premise.save()
            record_event(action="PREMISE_CHANGED", obj=premise, detail={"changes": diff})
    return diff


def create_route(*, city: City, hall: Hall, code: str, reading_day: int, reader=None, name: str = "",
                 actor: Actor) -> Route:
    """A reading route with its fixed reading day (1–28). Raises InvalidRegistryData."""
    if not 1 <= int(reading_day) <= 28:
        raise InvalidRegistryData(
            _("reading_day: must be 1–28, got {value}").format(value=reading_day), field="reading_day"
        )
    if hall.city_id != city.pk:
        raise InvalidRegistryData(_("hall: {hall} is not in {city}").format(hall=hall, city=city), field="hall")
    with acting_as(actor), transaction.atomic():
        route, created = Route.objects.get_or_create(
            code=code, defaults={"city": city, "hall": hall, "reading_day": reading_day, "reader": reader,
                                 "name": name},
        )
        if created:
            record_event(action="ROUTE_CREATED", obj=route, detail={"reading_day": reading_day})
        elif route.reading_day != int(reading_day):
            raise InvalidRegistryData(
                _("reading_day: route {route} reads on day {day}, got {value}").format(
                    route=code, day=route.reading_day, value=reading_day),
                field="reading_day",
            )
    return route


def create_meter(*, asset_number: str, digits: int, multiplier=1, registers: list[str], actor: Actor) -> Meter:
    """Register a meter (returns the existing one with the same asset number). Raises InvalidRegistryData."""
    asset_number = asset_number.strip()
    if not asset_number:
        raise InvalidRegistryData(_("meter: must not be empty"), field="meter")
    if not 4 <= int(digits) <= 10:
        raise InvalidRegistryData(_("meter_digits: must be 4–10, got {value}").format(value=digits),
                                  field="meter_digits")
    multiplier = _decimal(multiplier, field="multiplier")
    if multiplier is None or multiplier <= 0:
        raise InvalidRegistryData(_("multiplier: must be positive, got {value}").format(value=multiplier),
                                  field="multiplier")
    _refuse(registers_problem(registers), field="registers")
    with acting_as(actor), transaction.atomic():
        meter, created = Meter.objects.get_or_create(
            asset_number=asset_number,
            defaults={"digits": int(digits), "multiplier": multiplier, "registers": list(registers)},
        )
        if created:
            record_event(action="METER_CREATED", obj=meter, detail={"registers": list(registers)})
    return meter


METER_CHANGEABLE = ("digits", "multiplier", "registers")


def change_meter(*, meter: Meter, changes: dict, actor: Actor) -> dict:
    """Correct a meter's digits, multiplier or registers; returns {field: [old, new]}. Raises InvalidRegistryData."""
    unknown = set(changes) - set(METER_CHANGEABLE)
    if unknown:
        raise InvalidRegistryData(_("cannot change {fields} here").format(fields=", ".join(sorted(unknown))),
                                  field=sorted(unknown)[0])
    changes = dict(changes)
    if "multiplier" in changes:
        changes["multiplier"] = _decimal(changes["multiplier"], field="multiplier")
        if changes["multiplier"] is None or changes["multiplier"] <= 0:
            raise InvalidRegistryData(_("multiplier: must be positive"), field="multiplier")
    if "registers" in changes:
        _refuse(registers_problem(changes["registers"]), field="registers")
    with acting_as(actor), transaction.atomic():
        meter = Meter.objects.select_for_update().get(pk=meter.pk)
        diff = _apply(meter, changes)
        if diff:
            meter.save()
            record_event(action="METER_CHANGED", obj=meter, detail={"changes": diff})
    return diff


# --- accounts ---------------------------------------------------------------------------------------------


def _check_account_fields(*, usage_category, tariff_id, voltage, capacity_kva, contract_demand_kw, household_size,
                          tariffs=None) -> None:
    if usage_category not in UsageCategory.values:
        raise InvalidRegistryData(
            _("usage_category: unknown category {value}").format(value=usage_category), field="usage_category"
        )
    if voltage not in VoltageLevel.values:
        raise InvalidRegistryData(_("voltage: unknown voltage level {value}").format(value=voltage), field="voltage")
    _refuse(tariff_problem(tariff_id=tariff_id, usage_category=usage_category, tariffs=tariffs), field="tariff_id")
    problems = account_field_problems(usage_category=usage_category, capacity_kva=capacity_kva,
                                      contract_demand_kw=contract_demand_kw, household_size=household_size)
    for field, problem in problems.items():
        raise InvalidRegistryData(f"{field}: {problem}", field=field)


def create_account(*, number: str, customer: Customer, premise: Premise, home_hall: Hall, usage_category: str,
                   tariff_id: str, voltage: str, capacity_kva=None, contract_demand_kw=None,
                   household_size: int | None = None, route: Route | None = None, walk_order: int = 0,
                   status: str = Account.Status.ACTIVE, bank_withholding: bool = False, bank_account_ref: str = "",
                   opened_date: date | None = None, actor: Actor, tariffs: dict[str, TariffInfo] | None = None
                   ) -> Account:
    """Open an account (户号) for a customer at a premise, in the premise's city.

    Raises InvalidRegistryData (bad number, category, tariff, voltage, capacity, hall or route in another city),
    DuplicateAccountNumber.
    """
    _refuse(account_number_problem(number), field="number")
    capacity_kva = _decimal(capacity_kva, field="capacity_kva")
    contract_demand_kw = _decimal(contract_demand_kw, field="contract_demand_kw")
    _check_account_fields(usage_category=usage_category, tariff_id=tariff_id, voltage=voltage,
                          capacity_kva=capacity_kva, contract_demand_kw=contract_demand_kw,
                          household_size=household_size, tariffs=tariffs)
    if home_hall.city_id != premise.city_id:
        raise InvalidRegistryData(_("hall: {hall} is not in the premise's city").format(hall=home_hall),
                                  field="hall")
    if route is not None and route.city_id != premise.city_id:
        raise InvalidRegistryData(_("route: {route} is in another city").format(route=route), field="route")
    if status not in Account.Status.values:
        raise InvalidRegistryData(_("status: unknown status {value}").format(value=status), field="status")
    with acting_as(actor), transaction.atomic():
        if Account.objects.filter(number=number).exists():
            raise DuplicateAccountNumber(_("account {number} exists already").format(number=number), field="number")
        account = Account.objects.create(
            number=number, customer=customer, premise=premise, city_id=premise.city_id, home_hall=home_hall,
            route=route, walk_order=walk_order, usage_category=usage_category, tariff_id=tariff_id, voltage=voltage,
            capacity_kva=capacity_kva, contract_demand_kw=contract_demand_kw, household_size=household_size,
            status=status, bank_withholding=bank_withholding, bank_account_ref=bank_account_ref,
            opened_date=opened_date,
        )
        record_event(action="ACCOUNT_CREATED", obj=account,
                     detail={"number": number, "tariff_id": tariff_id, "usage_category": usage_category})
    return account


ACCOUNT_CHANGEABLE = (
    "usage_category", "tariff_id", "voltage", "capacity_kva", "contract_demand_kw", "household_size", "status",
    "bank_withholding", "bank_account_ref", "route", "walk_order", "home_hall", "opened_date",
)


def _apply(obj, changes: dict) -> dict:
    """Set the changed attributes on `obj`; returns {field: [old, new]} for those that differ."""
    diff = {}
    for field, new in changes.items():
        attname = obj._meta.get_field(field).attname
        old_value = getattr(obj, attname)
        new_value = new.pk if hasattr(new, "_meta") else new
        if field in ("capacity_kva", "contract_demand_kw", "multiplier") and new_value is not None:
            same = old_value is not None and Decimal(old_value) == Decimal(new_value)
        else:
            same = old_value == new_value
        if not same:
            diff[field] = [_plain(old_value), _plain(new_value)]
            setattr(obj, attname, new_value)
    return diff


def change_account(*, account: Account, changes: dict, actor: Actor, tariffs: dict[str, TariffInfo] | None = None
                   ) -> dict:
    """Change account fields (category, tariff, capacity, status, route …) with history and an audit event.

    `changes` maps field names from ACCOUNT_CHANGEABLE to new values (model instances for route/home_hall).
    Returns {field: [old, new]}; nothing is written when nothing differs (a retried change is a no-op).
    Raises InvalidRegistryData.
    """
    unknown = set(changes) - set(ACCOUNT_CHANGEABLE)
    if unknown:
        raise InvalidRegistryData(_("cannot change {fields} here").format(fields=", ".join(sorted(unknown))),
                                  field=sorted(unknown)[0])
    changes = dict(changes)
    for field in ("capacity_kva", "contract_demand_kw"):
        if field in changes:
            changes[field] = _decimal(changes[field], field=field)
    with acting_as(actor), transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        merged = {f: changes.get(f, getattr(account, f)) for f in
                  ("usage_category", "tariff_id", "voltage", "capacity_kva", "contract_demand_kw", "household_size")}
        if {"usage_category", "tariff_id", "voltage", "capacity_kva", "contract_demand_kw",
                "household_size"} & set(changes):
            _check_account_fields(**merged, tariffs=tariffs)
        if "status" in changes and changes["status"] not in Account.Status.values:
            raise InvalidRegistryData(_("status: unknown status {value}").format(value=changes["status"]),
                                      field="status")
        for field in ("route", "home_hall"):
            target = changes.get(field)
            if target is not None and target.city_id != account.city_id:
                raise InvalidRegistryData(_("{field}: {value} is in another city").format(field=field, value=target),
                                          field=field)
        diff = _apply(account, changes)
        if diff:
            account.save()
            record_event(action="ACCOUNT_CHANGED", obj=account, detail={"changes": diff})
    return diff


# --- installations ----------------------------------------------------------------------------------------


def _intervals(installations) -> list[Interval]:
    return [Interval(key=i.pk, start=i.installed_date, end=i.removed_date,
                     registers=frozenset(i.meter.registers or ())) for i in installations]


def _install(*, account: Account, meter: Meter, installed_date: date, initial_readings: dict) -> Installation:
    """Inside a transaction with the account and meter rows locked."""
    same = Installation.objects.filter(account=account, meter=meter, installed_date=installed_date).first()
    if same is not None and same.removed_date is None:
        return same  # a retried install
    if account.status == Account.Status.CLOSED:
        raise InvalidRegistryData(_("account {number} is closed").format(number=account.number), field="account")
    _refuse(readings_problem(registers=meter.registers, readings=initial_readings, digits=meter.digits),
            field="initial_readings")
    clash = first_overlap(start=installed_date, end=None,
                          existing=_intervals(meter.installations.select_related("meter", "account")))
    if clash is not None:
        other = Installation.objects.select_related("account").get(pk=clash.key)
        raise MeterAlreadyInstalled(
            _("meter {meter} is installed at account {account} from {start} to {end}; it cannot also serve "
              "account {target} from {date}").format(
                meter=meter.asset_number, account=other.account.number, start=other.installed_date,
                end=other.removed_date or "…", target=account.number, date=installed_date),
            field="meter",
        )
    clash = first_overlap(start=installed_date, end=None, registers=meter.registers,
                          existing=_intervals(account.installations.select_related("meter")))
    if clash is not None:
        other = Installation.objects.select_related("meter").get(pk=clash.key)
        raise AccountAlreadyMetered(
            _("account {account} already has meter {meter} for these registers from {start} to {end}; remove or "
              "exchange it first").format(
                account=account.number, meter=other.meter.asset_number, start=other.installed_date,
                end=other.removed_date or "…"),
            field="meter",
        )
    installation = Installation.objects.create(
        account=account, meter=meter, installed_date=installed_date,
        initial_readings={k: str(v) for k, v in initial_readings.items()},
    )
    record_event(action="METER_INSTALLED", obj=installation,
                 detail={"account": account.number, "meter": meter.asset_number,
                         "installed_date": installed_date.isoformat(), "readings": installation.initial_readings})
    return installation


def _remove(*, account: Account, meter: Meter, removed_date: date, final_readings: dict) -> Installation:
    installation = (Installation.objects.select_for_update()
                    .filter(account=account, meter=meter, installed_date__lt=removed_date)
                    .filter(removed_date__isnull=True).first())
    if installation is None:
        done = Installation.objects.filter(account=account, meter=meter, removed_date=removed_date).first()
        if done is not None:
            return done  # a retried removal
        raise NotInstalled(
            _("meter {meter} is not installed at account {account} before {date}").format(
                meter=meter.asset_number, account=account.number, date=removed_date),
            field="meter",
        )
    _refuse(readings_problem(registers=meter.registers, readings=final_readings, digits=meter.digits),
            field="final_readings")
    installation.removed_date = removed_date
    installation.final_readings = {k: str(v) for k, v in final_readings.items()}
    installation.save()
    record_event(action="METER_REMOVED", obj=installation,
                 detail={"account": account.number, "meter": meter.asset_number,
                         "removed_date": removed_date.isoformat(), "readings": installation.final_readings})
    return installation


def _lock(account: Account, *meters: Meter) -> tuple[Account, list[Meter]]:
    # Always account first, then meters by id: concurrent changes queue instead of deadlocking.
    account = Account.objects.select_for_update().get(pk=account.pk)
    locked = {m.pk: m for m in Meter.objects.select_for_update().filter(pk__in=[m.pk for m in meters]).order_by("pk")}
    return account, [locked[m.pk] for m in meters]


def install_meter(*, account: Account, meter: Meter, installed_date: date, initial_readings: dict,
                  actor: Actor) -> Installation:
    """Install `meter` at `account` from `installed_date` (open-ended). A retried call returns the same row.

    Raises MeterAlreadyInstalled (the meter serves another account then), AccountAlreadyMetered (the account has a
    meter for the same registers then), InvalidRegistryData (closed account, readings not fitting the meter).
    """
    with acting_as(actor), transaction.atomic():
        account, (meter,) = _lock(account, meter)
        return _install(account=account, meter=meter, installed_date=installed_date,
                        initial_readings=initial_readings)


def remove_meter(*, account: Account, meter: Meter, removed_date: date, final_readings: dict,
                 actor: Actor) -> Installation:
    """End the meter's installation at the account on `removed_date` (exclusive). Retries are no-ops.

    Raises NotInstalled, InvalidRegistryData (readings not fitting the meter).
    """
    with acting_as(actor), transaction.atomic():
        account, (meter,) = _lock(account, meter)
        return _remove(account=account, meter=meter, removed_date=removed_date, final_readings=final_readings)


def exchange_meter(*, account: Account, old_meter: Meter, new_meter: Meter, exchange_date: date,
                   final_readings: dict, initial_readings: dict, actor: Actor) -> tuple[Installation, Installation]:
    """Replace `old_meter` by `new_meter` on `exchange_date`: [.., exchange_date) then [exchange_date, ..).

    Both happen or neither. Raises NotInstalled, MeterAlreadyInstalled, AccountAlreadyMetered, InvalidRegistryData.
    """
    if old_meter.pk == new_meter.pk:
        raise InvalidRegistryData(_("the new meter is the old meter"), field="meter")
    with acting_as(actor), transaction.atomic():
        account, (old_meter, new_meter) = _lock(account, old_meter, new_meter)
        removed = _remove(account=account, meter=old_meter, removed_date=exchange_date, final_readings=final_readings)
        installed = _install(account=account, meter=new_meter, installed_date=exchange_date,
                             initial_readings=initial_readings)
        record_event(action="METER_EXCHANGED", obj=account,
                     detail={"old_meter": old_meter.asset_number, "new_meter": new_meter.asset_number,
                             "exchange_date": exchange_date.isoformat()})
    return removed, installed


def active_installations(*, account: Account, on_date: date) -> list[Installation]:
    """The installations serving the account on `on_date`."""
    return list(account.installations.select_related("meter").filter(installed_date__lte=on_date)
                .exclude(removed_date__lte=on_date))
