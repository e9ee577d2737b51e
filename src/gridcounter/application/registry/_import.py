"""Import the registry from a CSV or Excel file: upsert by account and meter number, keep every rejected row.

The file is read as a stream and committed in chunks (see `gridcounter.application.batches`): a stopped import
leaves a batch that counts exactly what it wrote, and importing the same file again finishes it.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import DataError, transaction
from django.utils.translation import gettext as _

from gridcounter.application.batches import ChunkCounts, Progress, finish_batch, open_batch, run_chunks
from gridcounter.application.cells import (
    date_problem,
    decimal_problem,
    integer_problem,
    nul_columns,
    nul_reason,
    shown,
    text_problem,
)
from gridcounter.application.registry import _registry as registry
from gridcounter.application.registry._registry import RegistryError
from gridcounter.application.tabular import Row, TabularFile, TabularFileError, open_tabular
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.imports.models import ImportBatch, RejectedRow
from gridcounter.data.org.models import City, Hall
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
from gridcounter.domain.business_time import business_date
from gridcounter.domain.registry import (
    TOU_REGISTERS,
    account_field_problems,
    account_number_problem,
    default_registers,
    id_number_problem,
    normalise_id_number,
    normalise_phone,
    phone_problem,
    registers_problem,
)

__all__ = ["COLUMNS", "ImportResult", "Rejection", "TabularFileError", "finish_import", "import_registry"]

COLUMNS = [
    "account", "customer_name", "id_type", "id_number", "phone", "city", "hall", "address", "building",
    "usage_category", "tariff", "voltage", "capacity_kva", "demand_kw", "household_size", "meter", "meter_digits",
    "multiplier", "installed_on", "route", "reading_day",
]
OPTIONAL_COLUMNS = ["registers", "walk_order"]

ID_TYPE_ALIASES = {"身份证": "RESIDENT_ID", "居民身份证": "RESIDENT_ID", "护照": "PASSPORT",
                   "统一社会信用代码": "USCC"}
VOLTAGE_ALIASES = {"220V": "LV_220V", "380V": "LV_380V", "400V": "LV_380V", "0.4KV": "LV_380V", "10KV": "KV_1_10",
                   "1-10KV": "KV_1_10", "20KV": "KV_20", "35KV": "KV_35", "110KV": "KV_110", "220KV": "KV_220"}

# use-case field name -> file column, so a refusal names the column the user must correct
FIELD_COLUMNS = {"number": "account", "name": "customer_name", "tariff_id": "tariff", "contract_demand_kw": "demand_kw",
                 "digits": "meter_digits", "initial_readings": "meter", "account": "account", "route": "route",
                 "home_hall": "hall", "premise": "address", "kind": "id_type"}
# file column -> (model, field) whose max_length, digits or range its value must fit
TEXT_FIELDS = {"account": (Account, "number"), "customer_name": (Customer, "name"), "id_number": (Customer, "id_number"),
               "phone": (Customer, "phone"), "city": (City, "name"), "hall": (Hall, "name"),
               "address": (Premise, "address"), "building": (Premise, "building"), "tariff": (Account, "tariff_id"),
               "meter": (Meter, "asset_number"), "route": (Route, "code")}
NUMBER_FIELDS = {"capacity_kva": (Account, "capacity_kva"), "demand_kw": (Account, "contract_demand_kw"),
                 "multiplier": (Meter, "multiplier"), "household_size": (Account, "household_size"),
                 "walk_order": (Account, "walk_order")}
CHUNK_ROWS = 500


@dataclass(frozen=True)
class Rejection:
    line: int
    column: str
    reason: str

    def __str__(self):
        return _("line {line}, column {column}: {reason}").format(line=self.line, column=self.column,
                                                                  reason=self.reason)


@dataclass
class ImportResult:
    file_name: str
    batch_id: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["rejected"] = [asdict(r) for r in self.rejected]
        data["rejected_count"] = len(self.rejected)
        return data


class RowProblem(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


# --- parsing one row --------------------------------------------------------------------------------------


@dataclass
class ParsedRow:
    account: str
    customer_name: str
    id_type: str
    id_number: str
    phone: str
    city: City
    hall: Hall
    address: str
    building: str
    usage_category: str
    tariff: str
    voltage: str
    capacity_kva: Decimal | None
    demand_kw: Decimal | None
    household_size: int | None
    meter: str
    meter_digits: int | None
    multiplier: Decimal
    registers: list[str] | None
    installed_on: date | None
    route: str
    reading_day: int | None
    walk_order: int | None


def _decimal(text: str, column: str) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RowProblem(column, _("not a number: {value}").format(value=text))
    if not value.is_finite():
        raise RowProblem(column, _("not a number: {value}").format(value=shown(text)))
    if column in NUMBER_FIELDS:
        model, name = NUMBER_FIELDS[column]
        problem = (decimal_problem(value, model=model, field=name) if model._meta.get_field(name).get_internal_type()
                   == "DecimalField" else None)
        if problem:
            raise RowProblem(column, problem)
    return value


def _integer(text: str, column: str) -> int | None:
    value = _decimal(text, column)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise RowProblem(column, _("must be a whole number, got {value}").format(value=shown(text)))
    if abs(value.adjusted()) > 18:
        raise RowProblem(column, _("{value} is out of range").format(value=shown(text)))
    number = int(value)
    if column in NUMBER_FIELDS:
        model, name = NUMBER_FIELDS[column]
        problem = integer_problem(number, model=model, field=name)
        if problem:
            raise RowProblem(column, problem)
    return number


def _date(text: str, column: str, *, today: date) -> date | None:
    if not text:
        return None
    text = re.sub(r"[T ]00:00(:00)?$", "", text)  # Excel dates arrive as midnight datetimes
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            day = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        problem = date_problem(day, today=today)
        if problem:
            raise RowProblem(column, problem)
        return day
    raise RowProblem(column, _("not a date (YYYY-MM-DD): {value}").format(value=shown(text)))


def _code(text: str, *, column: str, allowed: list[str], aliases: dict[str, str] | None = None) -> str:
    key = text.strip().upper().replace(" ", "")
    aliases = aliases or {}
    if key in allowed:
        return key
    if key in aliases or text.strip() in aliases:
        return aliases.get(key) or aliases[text.strip()]
    raise RowProblem(column, _("must be one of {allowed}, got {value!r}").format(
        allowed=", ".join(allowed), value=shown(text)))


def _find(model, text: str, column: str, **scope):
    """The city or hall with this code, else with this name (within `scope`)."""
    by_code = model.objects.filter(code=text, **scope).first()
    if by_code is not None:
        return by_code
    by_name = list(model.objects.filter(name=text, **scope)[:2])
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise RowProblem(column, _("several have the name {value!r}; use the code").format(value=text))
    if scope:
        raise RowProblem(column, _("no {kind} {value!r} in this city").format(kind=model._meta.verbose_name,
                                                                              value=text))
    raise RowProblem(column, _("no {kind} with code or name {value!r}").format(kind=model._meta.verbose_name,
                                                                                value=text))


def _parse(values: dict[str, str], *, tariffs, today: date) -> tuple[ParsedRow | None, list[RowProblem]]:
    """The row's values, checked; or the problems of its cells (each naming its column). `today` is the import's
    business date: no installation after it."""
    nul = nul_columns(values)
    if nul:  # no further look at the row: PostgreSQL refuses such text even in a query
        return None, [RowProblem(column, nul_reason()) for column in nul]
    problems: list[RowProblem] = []
    too_long = set()
    for column, (model, name) in TEXT_FIELDS.items():
        problem = text_problem(values.get(column, ""), model=model, field=name)
        if problem:
            problems.append(RowProblem(column, problem))
            too_long.add(column)

    def take(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RowProblem as problem:
            problems.append(problem)
            return None

    def required(column: str) -> str:
        text = values.get(column, "")
        if not text:
            problems.append(RowProblem(column, _("must not be empty")))
        return text

    def rule(column: str, message: str | None):
        if message:
            problems.append(RowProblem(column, message))

    number = required("account")
    if number and "account" not in too_long:
        rule("account", account_number_problem(number))
    name = required("customer_name")
    id_type = take(_code, required("id_type"), column="id_type", allowed=Customer.IdType.values,
                   aliases=ID_TYPE_ALIASES) if values.get("id_type") else None
    id_number = normalise_id_number(required("id_number"))
    if id_type and id_number and "id_number" not in too_long:
        rule("id_number", id_number_problem(id_type=id_type, number=id_number))
    phone = normalise_phone(values.get("phone", ""))
    if phone and "phone" not in too_long:
        rule("phone", phone_problem(phone))
    city = (take(_find, City, required("city"), "city") if values.get("city") and "city" not in too_long
            else None)
    hall = (take(_find, Hall, values["hall"], "hall", city=city) if city and required("hall")
            and "hall" not in too_long else None)
    address = required("address")
    usage_category = take(_code, required("usage_category"), column="usage_category",
                          allowed=UsageCategory.values) if values.get("usage_category") else None
    tariff = required("tariff")
    if tariff and usage_category and "tariff" not in too_long:
        rule("tariff", registry.tariff_problem(tariff_id=tariff, usage_category=usage_category, tariffs=tariffs))
    voltage = take(_code, required("voltage"), column="voltage", allowed=VoltageLevel.values,
                   aliases=VOLTAGE_ALIASES) if values.get("voltage") else None
    capacity = take(_decimal, values.get("capacity_kva", ""), "capacity_kva")
    demand = take(_decimal, values.get("demand_kw", ""), "demand_kw")
    household = take(_integer, values.get("household_size", ""), "household_size")
    if usage_category:
        for fld, message in account_field_problems(usage_category=usage_category, capacity_kva=capacity,
                                                   contract_demand_kw=demand, household_size=household).items():
            rule(FIELD_COLUMNS.get(fld, fld), message)
    meter = values.get("meter", "")
    digits = take(_integer, values.get("meter_digits", ""), "meter_digits")
    multiplier = take(_decimal, values.get("multiplier", ""), "multiplier")
    installed_on = take(_date, values.get("installed_on", ""), "installed_on", today=today)
    registers = None
    if values.get("registers"):
        registers = [r.strip().upper() for r in re.split(r"[;,/|\s]+", values["registers"]) if r.strip()]
        rule("registers", registers_problem(registers) if len(registers) <= 8 else
             _("at most 8 registers, got {count}").format(count=len(registers)))
    if meter:
        if digits is None and "meter_digits" not in {p.column for p in problems}:
            problems.append(RowProblem("meter_digits", _("must not be empty when a meter is given")))
        elif digits is not None and not 4 <= digits <= 10:
            problems.append(RowProblem("meter_digits", _("must be 4–10, got {value}").format(value=digits)))
        if multiplier is not None and multiplier <= 0:
            problems.append(RowProblem("multiplier", _("must be positive, got {value}").format(value=multiplier)))
        if installed_on is None and "installed_on" not in {p.column for p in problems}:
            problems.append(RowProblem("installed_on", _("must not be empty when a meter is given")))
    route = values.get("route", "")
    reading_day = take(_integer, values.get("reading_day", ""), "reading_day")
    if reading_day is not None and not 1 <= reading_day <= 28:
        problems.append(RowProblem("reading_day", _("must be 1–28, got {value}").format(value=reading_day)))
    walk_order = take(_integer, values.get("walk_order", ""), "walk_order")
    if problems:
        return None, problems
    return ParsedRow(
        account=number, customer_name=name, id_type=id_type, id_number=id_number, phone=phone, city=city, hall=hall,
        address=address, building=values.get("building", ""), usage_category=usage_category, tariff=tariff,
        voltage=voltage, capacity_kva=capacity, demand_kw=demand, household_size=household, meter=meter,
        meter_digits=digits, multiplier=multiplier if multiplier is not None else Decimal(1), registers=registers,
        installed_on=installed_on, route=route, reading_day=reading_day, walk_order=walk_order,
    ), []


# --- applying one row -------------------------------------------------------------------------------------


def _registers_for(row: ParsedRow, tariffs) -> list[str]:
    if row.registers:
        return row.registers
    info = tariffs.get(row.tariff)
    if info is not None and info.tou_registers is not None:
        tou = info.tou_registers
    else:  # tariff files without the catalogue: go by the id
        tou = TOU_REGISTERS if "TOU" in row.tariff.upper() else ()
    return default_registers(tou_registers=tou, large_industry=row.usage_category == "LARGE_INDUSTRY")


def _apply_row(row: ParsedRow, *, actor: Actor, tariffs) -> str:
    """Upsert one row; returns CREATED, UPDATED or UNCHANGED. Raises RowProblem or RegistryError."""
    changed = False
    customer = Customer.objects.filter(id_type=row.id_type, id_number=row.id_number).first()
    if customer is None:
        customer = registry.create_customer(name=row.customer_name, id_type=row.id_type, id_number=row.id_number,
                                            phone=row.phone, actor=actor)
    else:
        changes = {"name": row.customer_name}
        if row.phone:
            changes["phone"] = row.phone
        changed |= bool(registry.change_customer(customer=customer, changes=changes, actor=actor))

    premise = Premise.objects.filter(city=row.city, address=row.address).first()
    if premise is None:
        premise = registry.create_premise(city=row.city, address=row.address, building=row.building, actor=actor)
    else:
        changed |= bool(registry.change_premise(premise=premise, building=row.building, actor=actor))

    route = None
    if row.route:
        route = Route.objects.filter(code=row.route).first()
        if route is not None and route.city_id != row.city.pk:
            raise RowProblem("route", _("route {route} belongs to another city").format(route=row.route))
        if route is None:
            if row.reading_day is None:
                raise RowProblem("reading_day", _("must not be empty for a new route"))
            route = registry.create_route(city=row.city, hall=row.hall, code=row.route, reading_day=row.reading_day,
                                          actor=actor)
        elif row.reading_day is not None and row.reading_day != route.reading_day:
            raise RowProblem("reading_day", _("route {route} reads on day {day}, got {value}").format(
                route=row.route, day=route.reading_day, value=row.reading_day))

    account = Account.objects.filter(number=row.account).first()
    fields = {"usage_category": row.usage_category, "tariff_id": row.tariff, "voltage": row.voltage,
              "capacity_kva": row.capacity_kva, "contract_demand_kw": row.demand_kw,
              "household_size": row.household_size, "route": route, "home_hall": row.hall}
    if row.walk_order is not None:
        fields["walk_order"] = row.walk_order
    if account is None:
        account = registry.create_account(number=row.account, customer=customer, premise=premise, actor=actor,
                                          opened_date=row.installed_on, tariffs=tariffs, **fields)
        outcome = "CREATED"
    else:
        if account.customer_id != customer.pk:
            raise RowProblem("id_number", _("account {number} belongs to another customer; a transfer (过户) is "
                                            "done at the counter").format(number=row.account))
        if account.premise_id != premise.pk:
            raise RowProblem("address", _("account {number} is at {address}; moving an account is done at the "
                                          "counter").format(number=row.account, address=account.premise.address))
        changed |= bool(registry.change_account(account=account, changes=fields, actor=actor, tariffs=tariffs))
        outcome = "UPDATED" if changed else "UNCHANGED"

    if row.meter:
        meter = Meter.objects.filter(asset_number=row.meter).first()
        if meter is None:
            meter = registry.create_meter(asset_number=row.meter, digits=row.meter_digits, multiplier=row.multiplier,
                                          registers=_registers_for(row, tariffs), actor=actor)
        else:
            changes = {"digits": row.meter_digits, "multiplier": row.multiplier}
            if row.registers:
                changes["registers"] = row.registers
            changed |= bool(registry.change_meter(meter=meter, changes=changes, actor=actor))
        current = Installation.objects.filter(account=account, meter=meter, removed_date__isnull=True).first()
        if current is None:
            registry.install_meter(account=account, meter=meter, installed_date=row.installed_on, initial_readings={},
                                   actor=actor)
            changed = True
        elif current.installed_date != row.installed_on:
            raise RowProblem("installed_on", _("meter {meter} was installed on {date}; installation dates are "
                                               "corrected at the counter").format(meter=row.meter,
                                                                                  date=current.installed_date))
    if outcome != "CREATED":
        outcome = "UPDATED" if changed else "UNCHANGED"
    return outcome


def _import_row(row: Row, counts: ChunkCounts, *, actor: Actor, tariffs, today: date) -> None:
    """Import one row in its own savepoint, counting it; a bad row is counted as rejected with its first column."""
    parsed, problems = _parse(row.values, tariffs=tariffs, today=today)
    if parsed is not None:
        try:
            with transaction.atomic():
                outcome = _apply_row(parsed, actor=actor, tariffs=tariffs)
        except RowProblem as problem:
            problems = [problem]
        except RegistryError as error:
            column = FIELD_COLUMNS.get(error.field, error.field) or "account"
            reason = error.message
            prefix = f"{error.field}: "
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
            problems = [RowProblem(column, reason)]
        except DataError as error:  # a value no check above foresaw: the row is refused, the import goes on
            problems = [RowProblem("", _("the database refused the row: {error}").format(
                error=shown(str(error).splitlines()[0] if str(error) else type(error).__name__)))]
        else:
            counts.count(outcome)
            return
    first = problems[0]
    reason = "; ".join([first.reason] + [f"{p.column}: {p.reason}" for p in problems[1:]])
    counts.reject(row, first.column, reason)


def import_registry(*, path: str | Path, actor: Actor, imported_at: datetime, progress: Progress | None = None,
                    chunk_rows: int = CHUNK_ROWS) -> ImportResult:
    """Import every good row (each atomically) and keep every bad one as a RejectedRow of the batch.

    Rows are committed `chunk_rows` at a time together with the batch's counts; a stopped import of the same file
    (its SHA-256) is continued after its last committed line. `imported_at` (aware) stamps the batch; its business
    date is the latest installation date accepted. `progress(lines_done, lines)` is called after each chunk.

    Raises TabularFileError when the file cannot be read at all (nothing is written then).
    """
    table = open_tabular(path, required=COLUMNS)
    actor = Actor(user=actor.user, hall=actor.hall, channel=actor.channel,
                  reason=actor.reason or f"registry import {table.name}")
    tariffs = registry.known_tariffs()
    today = business_date(imported_at)
    with acting_as(actor):
        batch, resumed = open_batch(kind=ImportBatch.Kind.REGISTRY, table=table, imported_at=imported_at,
                                    user=actor.user)

        def do_chunk(rows: list[Row], counts: ChunkCounts) -> None:
            for row in rows:
                _import_row(row, counts, actor=actor, tariffs=tariffs, today=today)

        run_chunks(batch=batch, table=table, size=chunk_rows, progress=progress, do_chunk=do_chunk)
        return finish_import(batch, table=table, resumed=resumed, action="REGISTRY_IMPORTED")


def finish_import(batch: ImportBatch, *, table: TabularFile, resumed: bool, action: str) -> ImportResult:
    """Mark the batch complete, audit it as `action` and return its counts and rejected rows."""
    batch = finish_batch(batch)
    result = ImportResult(file_name=table.name, batch_id=batch.pk, created=batch.rows_created,
                          updated=batch.rows_updated, unchanged=batch.rows_unchanged,
                          rejected=[Rejection(line=r.line, column=r.column, reason=r.reason)
                                    for r in RejectedRow.objects.filter(batch=batch).order_by("line")])
    record_event(action=action, obj=batch,
                 detail={"file": table.name, "sha256": table.sha256, "created": result.created,
                         "updated": result.updated, "unchanged": result.unchanged,
                         "rejected": len(result.rejected), "continued": resumed})
    return result
