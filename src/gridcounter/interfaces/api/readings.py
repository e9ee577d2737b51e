"""Meter readings over HTTP: POST /api/readings (one reading, idempotent with client_key), GET /api/readings."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
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
from gridcounter.domain.business_time import BUSINESS_TZ

router = Router(tags=["readings"], auth=django_auth)

READING_ROLES = (Role.Code.METER_READER, Role.Code.CLERK, Role.Code.AUDITOR, Role.Code.SUPERVISOR)


class ReadingIn(Schema):
    meter: str = Field(..., description="meter asset number")
    register_code: str = Field("TOTAL", alias="register", description="TOTAL, PEAK, FLAT, VALLEY or REACTIVE")
    read_at: datetime = Field(..., description="ISO 8601; Asia/Shanghai local time unless an offset is given")
    value: Decimal = Field(..., description="the register's value, at most 2 decimals")
    source: str = Field("HANDHELD", description="AMI, HANDHELD, CUSTOMER (CORRECTION for auditors)")
    client_key: str | None = Field(None, max_length=64, description="idempotency key: a resent reading is stored once")
    note: str = ""


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


class ErrorOut(Schema):
    detail: str
    field: str = ""


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
        raise ObjectHidden("meter never installed")
    access_account(user=user, account=installation.account)


@router.post("/readings", response={200: ReadingOut, 201: ReadingOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                    409: ErrorOut},
             by_alias=True, summary="Submit one reading; validated at once, codes and reasons in the request's language")
def post_reading(request, payload: ReadingIn):
    user = request.user
    try:
        require_role(user, *READING_ROLES)
    except AccessDenied:
        return Status(403, {"detail": _("You may not submit readings.")})
    meter = Meter.objects.filter(asset_number=payload.meter).first()
    if meter is None:
        return Status(404, {"detail": _("unknown meter “%(value)s”") % {"value": payload.meter}, "field": "meter"})
    read_at = payload.read_at if timezone.is_aware(payload.read_at) else payload.read_at.replace(tzinfo=BUSINESS_TZ)
    try:
        _scope_meter(user, meter, local_date(read_at))
    except ObjectHidden:
        return Status(404, {"detail": _("unknown meter “%(value)s”") % {"value": payload.meter}, "field": "meter"})
    except AccessDenied:
        return Status(403, {"detail": _("You may not submit readings.")})
    actor = Actor(user=user, hall=getattr(user, "hall", None), reason="reading submitted", channel="API")
    try:
        outcome = submit_reading(meter=meter, register=payload.register_code.upper(), read_at=read_at, value=payload.value,
                                 source=payload.source.upper(), actor=actor, client_key=payload.client_key,
                                 note=payload.note)
    except ReadingInputError as exc:
        return Status(400, {"detail": str(exc), "field": exc.field})
    except ClientKeyConflict as exc:
        return Status(409, {"detail": str(exc), "field": "client_key"})
    return Status(201 if outcome.created else 200, reading_out(outcome.reading, created=outcome.created))


@router.get("/readings", response={200: list[ReadingOut], 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
            by_alias=True, summary="Readings of a meter or an account, newest first (estimates marked is_estimate)")
def list_readings(request, meter: str | None = None, account: str | None = None, limit: int = 100):
    if not meter and not account:
        return Status(400, {"detail": _("Give meter or account."), "field": "meter"})
    readings = Reading.objects.select_related("meter", "account").order_by("-read_at", "-id")
    try:
        if account:
            found = Account.objects.filter(number=account).first()
            if found is None:
                return Status(404, {"detail": _("unknown account “%(value)s”") % {"value": account}, "field": "account"})
            access_account(user=request.user, account=found)
            readings = readings.filter(account=found)
        if meter:
            found_meter = Meter.objects.filter(asset_number=meter).first()
            if found_meter is None:
                return Status(404, {"detail": _("unknown meter “%(value)s”") % {"value": meter}, "field": "meter"})
            if not account:
                _scope_meter(request.user, found_meter, timezone.localdate())
            readings = readings.filter(meter=found_meter)
    except ObjectHidden:
        return Status(404, {"detail": _("not found"), "field": "account" if account else "meter"})
    except AccessDenied:
        return Status(403, {"detail": _("access denied")})
    return Status(200, [reading_out(r) for r in readings[: max(1, min(limit, 500))]])
