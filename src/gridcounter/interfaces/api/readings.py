"""Meter readings over HTTP: POST /api/readings (one reading, idempotent with client_key), GET /api/readings."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from ninja.security import django_auth

from gridcounter.application.access import AccessDenied, ObjectHidden, access_account, require_role
from gridcounter.application.readings import (
    ClientKeyConflict,
    ReadingInputError,
    installation_at,
    local_date,
    stored_findings,
    submit_reading,
)
from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import Role
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation, Meter
from gridcounter.interfaces.api.contract import (
    NO_NUL,
    Id,
    ReadAt,
    ReadingValue,
    answers,
    error,
    limit_query,
    text,
)

router = Router(tags=["readings"], auth=django_auth)

# what submit_reading stores from a client (ESTIMATE is the system's own)
SOURCES = (Reading.Source.AMI, Reading.Source.HANDHELD, Reading.Source.CUSTOMER, Reading.Source.CORRECTION)
READINGS_LIMIT = limit_query(default=100, largest=500)
READING_ROLES = (Role.Code.METER_READER, Role.Code.CLERK, Role.Code.AUDITOR, Role.Code.SUPERVISOR)


class ReadingIn(Schema):
    meter: str = text(min_length=1, max_length=64, description="meter asset number")
    register_code: Literal[tuple(Reading.Register.values)] = Field("TOTAL", alias="register")
    read_at: ReadAt
    value: ReadingValue
    source: Literal[tuple(str(s) for s in SOURCES)] = Field(
        "HANDHELD", description="CORRECTION for auditors")
    client_key: str | None = text(max_length=64, default=None,
                                  description="idempotency key: a resent reading is stored once")
    note: str = text(max_length=2000, default="")


class FindingOut(Schema):
    code: str
    severity: str
    numbers: dict
    reason: str


class ReadingOut(Schema):
    id: int
    meter: str
    account: str | None
    register_code: str = Field(..., alias="register")
    read_at: datetime
    read_date: str
    value: Decimal
    source: str
    is_estimate: bool
    status: str
    codes: list[str]
    findings: list[FindingOut]
    created: bool = False


def reading_out(reading: Reading, *, created: bool = False) -> dict:
    language = get_language() or "zh-hans"
    return {
        "id": reading.pk, "meter": reading.meter.asset_number,
        "account": reading.account.number if reading.account_id else None, "register": reading.register,
        "read_at": reading.read_at, "read_date": reading.read_date.isoformat(), "value": reading.value,
        "source": reading.source, "is_estimate": reading.is_estimate, "status": reading.status,
        "codes": list(reading.codes or []),
        "findings": [{"code": f.code, "severity": f.severity, "numbers": f.numbers, "reason": f.reason(language)}
                     for f in stored_findings(reading)],
        "created": created,
    }


def _scope_meter(user, meter: Meter, day) -> None:
    """The user must see the account the meter served that day (or, if none, the last one it served)."""
    installation = installation_at(meter=meter, day=day) or (
        Installation.objects.filter(meter=meter).select_related("account").order_by("-installed_date").first())
    if installation is None:
        raise ObjectHidden("meter never installed", rule="NOT_FOUND")
    access_account(user=user, account=installation.account)


def _unknown_meter(asset_number: str) -> Status:
    return error(404, "METER_NOT_FOUND", _("unknown meter “%(value)s”") % {"value": asset_number}, "meter")


def _unknown_account(number: str) -> Status:
    return error(404, "ACCOUNT_NOT_FOUND", _("unknown account “%(value)s”") % {"value": number}, "account")


@router.post("/readings", response=answers({200: ReadingOut, 201: ReadingOut}, 404, 409), by_alias=True,
             summary="Submit one reading; validated at once, codes and reasons in the request's language")
def post_reading(request, payload: ReadingIn):
    """201 stored, 200 the same reading again. A meter of another city is answered as an unknown one (404); 409
    when the meter refuses the reading (no such register, more digits than its dial) or client_key was used for
    another reading."""
    user = request.user
    try:
        require_role(user, *READING_ROLES)
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not submit readings."))
    meter = Meter.objects.filter(asset_number=payload.meter).first()
    if meter is None:
        return _unknown_meter(payload.meter)
    try:
        _scope_meter(user, meter, local_date(payload.read_at))
    except ObjectHidden:
        return _unknown_meter(payload.meter)
    actor = Actor(user=user, hall=getattr(user, "hall", None), reason="reading submitted", channel="API")
    try:
        outcome = submit_reading(meter=meter, register=payload.register_code, read_at=payload.read_at,
                                 value=payload.value, source=payload.source, actor=actor,
                                 client_key=payload.client_key or None, note=payload.note)
    except ReadingInputError as exc:
        return error(409, "READING_REFUSED", exc, exc.field)
    except ClientKeyConflict as exc:
        return error(409, "CLIENT_KEY_REUSED", exc, "client_key")
    return Status(201 if outcome.created else 200, reading_out(outcome.reading, created=outcome.created))


@router.get("/readings", response=answers({200: list[ReadingOut]}, 404), by_alias=True,
            summary="Readings of a meter or an account, newest first (estimates marked is_estimate)")
def list_readings(request, meter: str | None = Query(None, min_length=1, max_length=64, pattern=NO_NUL),
                  account: str | None = Query(None, min_length=1, max_length=32, pattern=NO_NUL),
                  limit: Id = READINGS_LIMIT):
    """Give meter or account (or both); 422 FILTER_REQUIRED with neither. Another city's meter or account is
    answered as an unknown one (404)."""
    try:
        require_role(request.user, *READING_ROLES, Role.Code.ACCOUNT_MANAGER)
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not see readings."))
    if not meter and not account:
        return error(422, "FILTER_REQUIRED", _("Give meter or account."), "meter")
    readings = Reading.objects.select_related("meter", "account").order_by("-read_at", "-id")
    if account:
        found = Account.objects.filter(number=account).first()
        try:
            if found is None:
                raise ObjectHidden("no such account", rule="NOT_FOUND")
            access_account(user=request.user, account=found)
        except ObjectHidden:
            return _unknown_account(account)
        readings = readings.filter(account=found)
    if meter:
        found_meter = Meter.objects.filter(asset_number=meter).first()
        try:
            if found_meter is None:
                raise ObjectHidden("no such meter", rule="NOT_FOUND")
            _scope_meter(request.user, found_meter, timezone.localdate())
        except ObjectHidden:
            return _unknown_meter(meter)
        readings = readings.filter(meter=found_meter)
    return Status(200, [reading_out(r) for r in readings[:limit]])
