"""Opening a service request and completing its steps: each one atomic, audited (who, when, hall, why) and safe to
retry; the guards of domain.service decide whether a step may be completed."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from gridcounter.application.readings import ReadingInputError, submit_reading
from gridcounter.application.registry import (
    RegistryError,
    change_account,
    create_account,
    create_customer,
    create_meter,
    create_premise,
    install_meter,
)
from gridcounter.application.working_calendar import working_calendar
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.org.models import Hall
from gridcounter.data.registry.models import Account, Customer, Installation, Meter
from gridcounter.data.service.models import ServiceRequest, ServiceStep
from gridcounter.domain.business_time import business_date
from gridcounter.domain.registry import id_number_problem, normalise_id_number
from gridcounter.domain.service import (
    Doer,
    Refusal,
    RequestFacts,
    RequestType,
    UnknownRequestType,
    check_step,
)
from gridcounter.domain.working_days import OutsideWorkingCalendar

from ._types import request_types


def chinese() -> bool:
    return (get_language() or "zh-hans").lower().startswith("zh")


class StepRefused(Exception):
    """A guard refused the step: ``code`` and the reason in both languages (``refusal``); str() is the reason in
    the active language. Nothing was changed; the refusal is audited (SERVICE_STEP_REFUSED)."""

    def __init__(self, refusal: Refusal, *, step: str):
        self.refusal = refusal
        self.code = refusal.code
        self.step = step
        super().__init__(refusal.text(zh=chinese()))


class RequestInputError(ValueError):
    """What was typed cannot be used: the message names the field, in the active language. Nothing was changed."""

    def __init__(self, message: str, *, field: str, code: str = "INVALID"):
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass
class StepOutcome:
    request: ServiceRequest
    step: ServiceStep
    created: bool  # False: the step had been completed already (a retry); nothing changed
    detail: dict = field(default_factory=dict)


def request_type_of(request: ServiceRequest) -> RequestType:
    """The request's type as it was in force on the day it was opened."""
    return request_types().get(request.request_type, on=request.rules_effective_date)


def _due(step, start: date) -> date | None:
    """The step's due date; None when the calendar does not know the year yet (shown as "not yet known")."""
    try:
        return step.due_after(start, calendar=working_calendar())
    except OutsideWorkingCalendar:
        return None


# --- opening -----------------------------------------------------------------------------------------------


def _next_number(*, city_code: str, day: date) -> str:
    prefix = f"{city_code}-{day:%Y%m%d}-"
    taken = ServiceRequest.objects.filter(number__startswith=prefix).count()
    return f"{prefix}{taken + 1:04d}"


def open_request(*, request_type: str, hall: Hall, applicant_name: str, id_type: str, id_number: str,
                 address: str, phone: str = "", capacity_kva=None, customer: Customer | None = None,
                 origin_account: Account | None = None, actor: Actor, now: datetime,
                 idempotency_key: str | None = None) -> tuple[ServiceRequest, bool]:
    """Open a request of `request_type` at `hall` (any hall of the city) for the applicant; its first step
    (application accepted) is then current, due by the type's limit. Audited as SERVICE_REQUEST_OPENED.
    With `idempotency_key`, a retry returns the request already opened: (it, False).

    Raises RequestInputError (unknown type, empty name or address, bad ID number, capacity not a positive number,
    an account of another city).
    """
    if idempotency_key:
        existing = ServiceRequest.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    today = business_date(now)
    try:
        kind = request_types().get(request_type, on=today)
    except UnknownRequestType:
        raise RequestInputError(_("request type: choose one of the request types offered."),
                                field="request_type", code="UNKNOWN_TYPE") from None
    applicant_name = (applicant_name or "").strip()
    address = (address or "").strip()
    if not applicant_name:
        raise RequestInputError(_("applicant: the applicant's name is required."), field="applicant_name")
    if id_type not in Customer.IdType.values:
        raise RequestInputError(_("ID type: choose the kind of ID shown."), field="id_type")
    id_number = normalise_id_number(id_number or "")
    if id_number_problem(id_type=id_type, number=id_number):
        raise RequestInputError(_("ID number: %(number)s is not a valid number for this kind of ID.")
                                % {"number": id_number or "—"}, field="id_number")
    if not address:
        raise RequestInputError(_("supply address: where the supply is wanted is required."), field="address")
    capacity = None
    if capacity_kva not in (None, ""):
        try:
            capacity = Decimal(str(capacity_kva))
        except InvalidOperation:
            capacity = Decimal(-1)
        if not capacity.is_finite() or capacity <= 0 or capacity >= Decimal("1e10"):
            raise RequestInputError(_("capacity: must be a positive number of kVA."), field="capacity_kva")
    if origin_account is not None and origin_account.city_id != hall.city_id:
        raise RequestInputError(_("account: the account is in another city."), field="account")
    first = kind.steps[0]
    for attempt in range(5):
        try:
            with acting_as(actor), transaction.atomic():
                request = ServiceRequest.objects.create(
                    number=_next_number(city_code=hall.city.code, day=today), city_id=hall.city_id,
                    opened_hall=hall, opened_by=actor.user, opened_at=now, opened_date=today,
                    request_type=kind.code, rules_effective_date=kind.effective_from,
                    applicant_name=applicant_name[:200], id_type=id_type, id_number=id_number,
                    phone=(phone or "").strip()[:32], address=address[:300], capacity_kva=capacity,
                    customer=customer, origin_account=origin_account, current_step=first.code,
                    current_role=first.role, current_since_date=today, current_due_date=_due(first, today),
                    idempotency_key=idempotency_key or None)
                record_event(action="SERVICE_REQUEST_OPENED", obj=request, detail={
                    "number": request.number, "type": kind.code, "rules": kind.effective_from.isoformat(),
                    "applicant": applicant_name, "due": _iso(request.current_due_date)})
            return request, True
        except IntegrityError:
            if idempotency_key:
                existing = ServiceRequest.objects.filter(idempotency_key=idempotency_key).first()
                if existing is not None:
                    return existing, False
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# --- completing a step -------------------------------------------------------------------------------------


def facts_of(request: ServiceRequest) -> RequestFacts:
    account_tariff = ""
    if request.account_id:
        account_tariff = Account.objects.filter(pk=request.account_id).values_list("tariff_id", flat=True).first() or ""
    return RequestFacts(
        city_id=request.city_id,
        current_step=request.current_step or None if request.state == ServiceRequest.State.OPEN else None,
        done_steps=frozenset(request.steps.values_list("step", flat=True)),
        document_kinds=frozenset(request.documents.values_list("kind", flat=True)),
        meter_installation_on_record=bool(request.meter_id and request.installed_date),
        account_tariff=account_tariff,
        energised=request.energised_date is not None,
    )


def doer_of(user) -> Doer:
    from gridcounter.application.access import is_admin

    return Doer(city_id=getattr(user, "city_id", None), roles=frozenset(user.role_codes()), is_admin=is_admin(user))


def refusal_for(*, request: ServiceRequest, step: str, user) -> Refusal | None:
    """Why `user` may not complete `step` now (the first guard that refuses), or None. Changes nothing."""
    return check_step(request_type=request_type_of(request), step_code=step, facts=facts_of(request),
                      doer=doer_of(user))


def blocker_of(request: ServiceRequest) -> Refusal | None:
    """What stops the current step, for whoever's step it is (a missing document, a guard), or None."""
    if request.state != ServiceRequest.State.OPEN:
        return None
    doer = Doer(city_id=request.city_id, roles=frozenset({request.current_role}))
    return check_step(request_type=request_type_of(request), step_code=request.current_step,
                      facts=facts_of(request), doer=doer)


def complete_step(*, request: ServiceRequest, step: str, actor: Actor, now: datetime, data: dict | None = None,
                  note: str = "") -> StepOutcome:
    """Complete `step` of the request as `actor` (whose user must hold the step's role in the request's city) with
    what the step records (`data`, see STEP_FIELDS), then make the next step current with its due date. One
    transaction, audited as SERVICE_STEP_COMPLETED with the note as its reason. Completing a step already completed
    (a retry) changes nothing and returns it with created=False.

    Raises StepRefused (a guard: OTHER_CITY, WRONG_ROLE, REQUEST_CLOSED, INSTALLATION_NOT_COMPLETE,
    READER_NOT_SIGNED_OFF, NO_ACCOUNT_WITH_TARIFF, NO_METER_INSTALLATION, NOT_ENERGISED, NOT_INSPECTED,
    STEP_OUT_OF_ORDER, DOCUMENTS_MISSING), RequestInputError (what the step records cannot be used).
    """
    data = data or {}
    kind = request_type_of(request)
    if step not in kind.step_codes():
        raise RequestInputError(_("step: this request has no such step."), field="step", code="UNKNOWN_STEP")
    today = business_date(now)
    refused = None
    stepped_actor = Actor(user=actor.user, hall=actor.hall, reason=note or actor.reason, channel=actor.channel,
                          name=actor.name)
    with acting_as(stepped_actor), transaction.atomic():
        request = ServiceRequest.objects.select_for_update().get(pk=request.pk)
        done = request.steps.filter(step=step).first()
        if done is not None:
            return StepOutcome(request=request, step=done, created=False, detail=done.detail)
        refused = check_step(request_type=kind, step_code=step, facts=facts_of(request), doer=doer_of(actor.user))
        if refused is None:
            detail = _RECORDERS.get(step, _record_note)(request=request, kind=kind, data=data, actor=stepped_actor,
                                                        now=now, today=today)
            completed = ServiceStep.objects.create(
                request=request, step=step, position=kind.step_codes().index(step), completed_at=now,
                completed_date=today, completed_by=actor.user, hall=actor.hall, reason=note,
                due_date=request.current_due_date, detail=detail)
            following = kind.after(step)
            if following is None:
                request.state = ServiceRequest.State.DONE
                request.current_step = request.current_role = ""
                request.current_since_date = request.current_due_date = None
            else:
                request.current_step, request.current_role = following.code, following.role
                request.current_since_date, request.current_due_date = today, _due(following, today)
            request.save()
            record_event(action="SERVICE_STEP_COMPLETED", obj=request, reason=note, detail={
                "number": request.number, "step": step, "due": _iso(completed.due_date),
                "on_time": completed.on_time, "next": request.current_step or None,
                "next_due": _iso(request.current_due_date), **detail})
            return StepOutcome(request=request, step=completed, created=True, detail=detail)
    record_event(action="SERVICE_STEP_REFUSED", obj=request, reason=note, user=actor.user, hall=actor.hall,
                 detail={"number": request.number, "step": step, "code": refused.code, "reason_en": refused.text_en,
                         "reason_zh": refused.text_zh})
    raise StepRefused(refused, step=step)


# What each step records besides its note, by field (the forms and the API name them so).
STEP_FIELDS = {
    "INSTALLATION": ("meter", "meter_digits", "multiplier", "reading", "installed_date"),
    "SIGN_OFF": ("meter",),
    "ACCOUNT": ("tariff_id", "account_number"),
    "FIRST_READING": ("reading",),
}


def _record_note(**kwargs) -> dict:
    return {}


def _text(data: dict, key: str) -> str:
    return str(data.get(key) or "").strip()


def _reading_value(data: dict, *, digits: int) -> Decimal:
    raw = _text(data, "reading")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value >= 10 ** digits or value != round(value, 2):
        raise RequestInputError(_("reading: must be a number from 0 below %(limit)s, at most two decimals, not "
                                  "“%(value)s”.") % {"limit": 10 ** digits, "value": raw}, field="reading")
    return value


def _registry(call, **kwargs):
    try:
        return call(**kwargs)
    except RegistryError as exc:
        raise RequestInputError(str(exc), field=exc.field or "meter") from None


def _record_installation(*, request, kind, data, actor, now, today) -> dict:
    asset_number = _text(data, "meter")
    if not asset_number:
        raise RequestInputError(_("meter: the asset number of the meter installed is required."), field="meter")
    try:
        digits = int(_text(data, "meter_digits") or 6)
    except ValueError:
        raise RequestInputError(_("meter digits: must be a whole number from 4 to 10."), field="meter_digits") from None
    installed = today
    if _text(data, "installed_date"):
        try:
            installed = date.fromisoformat(_text(data, "installed_date"))
        except ValueError:
            raise RequestInputError(_("installed on: must be a date written YYYY-MM-DD."),
                                    field="installed_date") from None
        if installed > today or installed < request.opened_date:
            raise RequestInputError(_("installed on: must lie between the day the request was opened and today."),
                                    field="installed_date")
    meter = Meter.objects.filter(asset_number=asset_number).first()
    if meter is None:
        meter = _registry(create_meter, asset_number=asset_number, digits=digits,
                          multiplier=_text(data, "multiplier") or 1, registers=["TOTAL"], actor=actor)
    elif Installation.objects.filter(meter=meter, removed_date__isnull=True).exists() or ServiceRequest.objects.filter(
            meter=meter, state=ServiceRequest.State.OPEN).exclude(pk=request.pk).exists():
        raise RequestInputError(_("meter: %(meter)s is installed elsewhere already.") % {"meter": asset_number},
                                field="meter")
    value = _reading_value(data, digits=meter.digits)
    request.meter, request.installed_date = meter, installed
    request.initial_readings = {"TOTAL": str(value)}
    return {"meter": meter.asset_number, "installed_date": installed.isoformat(), "readings": request.initial_readings}


def _record_sign_off(*, request, kind, data, actor, now, today) -> dict:
    asset_number = _text(data, "meter")
    if asset_number != request.meter.asset_number:
        raise RequestInputError(_("meter: the asset number read on site, %(typed)s, is not the meter installed; check "
                                  "the meter.") % {"typed": asset_number or "—"}, field="meter")
    return {"meter": asset_number}


def _record_account(*, request, kind, data, actor, now, today) -> dict:
    tariff_id = _text(data, "tariff_id")
    if not tariff_id:
        raise RequestInputError(_("tariff: choose the tariff the account is billed on."), field="tariff_id")
    number = _text(data, "account_number") or f"9{request.pk:09d}"
    customer = request.customer or _registry(
        create_customer, name=request.applicant_name, id_type=request.id_type, id_number=request.id_number,
        phone=request.phone, actor=actor)
    premise = _registry(create_premise, city=request.city, address=request.address, actor=actor)
    account = _registry(create_account, number=number, customer=customer, premise=premise,
                        home_hall=request.opened_hall, usage_category=kind.usage_category, tariff_id=tariff_id,
                        voltage=kind.voltage, capacity_kva=request.capacity_kva,
                        status=Account.Status.PENDING, opened_date=today, actor=actor)
    _registry(install_meter, account=account, meter=request.meter, installed_date=request.installed_date,
              initial_readings=request.initial_readings, actor=actor)
    request.customer, request.account = customer, account
    return {"account": account.number, "tariff_id": tariff_id}


def _record_energise(*, request, kind, data, actor, now, today) -> dict:
    change_account(account=request.account, changes={"status": Account.Status.ACTIVE}, actor=actor)
    request.energised_date = today
    return {"account": request.account.number, "energised_date": today.isoformat()}


def _record_first_reading(*, request, kind, data, actor, now, today) -> dict:
    value = _reading_value(data, digits=request.meter.digits)
    try:
        outcome = submit_reading(meter=request.meter, register="TOTAL", read_at=now, value=value, source="HANDHELD",
                                 actor=actor, client_key=f"service-{request.number}-first", note=request.number)
    except ReadingInputError as exc:
        raise RequestInputError(str(exc), field="reading") from None
    return {"reading": outcome.reading.pk, "value": str(value), "status": outcome.reading.status}


_RECORDERS = {
    "INSTALLATION": _record_installation,
    "SIGN_OFF": _record_sign_off,
    "ACCOUNT": _record_account,
    "ENERGISE": _record_energise,
    "FIRST_READING": _record_first_reading,
}


# --- queries -------------------------------------------------------------------------------------------------


def lookup_for_applicant(*, number: str, id_number: str) -> ServiceRequest | None:
    """The request with this number, if `id_number` is its applicant's; None otherwise (an unknown number and a
    wrong ID number look the same)."""
    request = ServiceRequest.objects.filter(number=(number or "").strip()).first()
    if request is None or request.id_number != normalise_id_number(id_number or ""):
        return None
    return request


def requests_of_account(account: Account):
    """The requests an account was started from or created by, newest first."""
    return ServiceRequest.objects.filter(Q(account=account) | Q(origin_account=account)).order_by("-opened_at", "-id")


def work_due(*, city_id: int | None, role: str):
    """Open requests whose current step is `role`'s, soonest due first (every city when `city_id` is None)."""
    rows = ServiceRequest.objects.filter(state=ServiceRequest.State.OPEN, current_role=role)
    if city_id is not None:
        rows = rows.filter(city_id=city_id)
    return rows.select_related("opened_hall").order_by("current_due_date", "opened_at")


def steps_due(*, city_id: int | None, as_of: date, within: date):
    """Open requests whose current step is overdue on `as_of` or due by `within`, most overdue first."""
    rows = ServiceRequest.objects.filter(state=ServiceRequest.State.OPEN, current_due_date__lte=within)
    if city_id is not None:
        rows = rows.filter(city_id=city_id)
    return rows.select_related("opened_hall").order_by("current_due_date", "opened_at")
