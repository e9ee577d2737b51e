"""Registry over HTTP: GET /accounts/{number} with customer, premise, route, meters and installation history."""
from __future__ import annotations

from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Path, Router, Schema
from ninja.security import django_auth

from gridcounter.application.access import AccessDenied, ObjectHidden, access_account_by_number, require_role
from gridcounter.data.org.models import Role
from gridcounter.interfaces.api.contract import NO_NUL, answers, error

router = Router(tags=["registry"], auth=django_auth)


class CustomerOut(Schema):
    name: str
    kind: str
    id_type: str
    id_number_masked: str
    phone: str


class PremiseOut(Schema):
    address: str
    building: str


class RouteOut(Schema):
    code: str
    reading_day: int
    reader: str | None


class MeterOut(Schema):
    asset_number: str
    digits: int
    multiplier: str
    registers: list[str]


class InstallationOut(Schema):
    meter: MeterOut
    installed_date: date
    removed_date: date | None
    active: bool
    initial_readings: dict
    final_readings: dict


class AccountOut(Schema):
    number: str
    status: str
    city: str
    home_hall: str
    usage_category: str
    tariff_id: str
    voltage: str
    capacity_kva: str | None
    contract_demand_kw: str | None
    household_size: int | None
    bank_withholding: bool
    opened_date: date | None
    customer: CustomerOut
    premise: PremiseOut
    route: RouteOut | None
    walk_order: int
    meters: list[MeterOut]  # installed today
    installations: list[InstallationOut]  # whole history, oldest first


def _mask(id_number: str) -> str:
    """Show the first 6 and last 4 characters of an ID number, as on the counter screen."""
    if len(id_number) <= 10:
        return id_number[:2] + "*" * max(len(id_number) - 2, 0)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def _meter(meter) -> dict:
    return {"asset_number": meter.asset_number, "digits": meter.digits, "multiplier": str(meter.multiplier),
            "registers": list(meter.registers)}


@router.get("/accounts/{number}", response=answers({200: AccountOut}, 404),
            summary="An account with its customer, premise, meters and installation history")
def get_account(request, number: str = Path(..., min_length=1, max_length=32, pattern=NO_NUL)):
    """Staff of the account's city only (ADMIN anywhere); another city's account answers 404."""
    try:
        require_role(request.user, *Role.Code.values)
        account = access_account_by_number(user=request.user, number=number)
    except ObjectHidden:
        return error(404, "NOT_FOUND", _("No such account."), "number")
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not see this account."))
    today = timezone.localdate()
    installations = list(account.installations.select_related("meter").order_by("installed_date", "pk"))
    customer = account.customer
    route = account.route
    return {
        "number": account.number, "status": account.status, "city": account.city.name,
        "home_hall": account.home_hall.name, "usage_category": account.usage_category, "tariff_id": account.tariff_id,
        "voltage": account.voltage,
        "capacity_kva": None if account.capacity_kva is None else str(account.capacity_kva),
        "contract_demand_kw": None if account.contract_demand_kw is None else str(account.contract_demand_kw),
        "household_size": account.household_size, "bank_withholding": account.bank_withholding,
        "opened_date": account.opened_date,
        "customer": {"name": customer.name, "kind": customer.kind, "id_type": customer.id_type,
                     "id_number_masked": _mask(customer.id_number), "phone": customer.phone},
        "premise": {"address": account.premise.address, "building": account.premise.building},
        "route": None if route is None else {
            "code": route.code, "reading_day": route.reading_day,
            "reader": str(route.reader) if route.reader_id else None},
        "walk_order": account.walk_order,
        "meters": [_meter(i.meter) for i in installations
                   if i.installed_date <= today and (i.removed_date is None or today < i.removed_date)],
        "installations": [
            {"meter": _meter(i.meter), "installed_date": i.installed_date, "removed_date": i.removed_date,
             "active": i.installed_date <= today and (i.removed_date is None or today < i.removed_date),
             "initial_readings": i.initial_readings, "final_readings": i.final_readings}
            for i in installations
        ],
    }
