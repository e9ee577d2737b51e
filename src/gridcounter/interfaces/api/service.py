"""Service requests over HTTP: the applicant's look-up by number and ID number (no sign-in); staff open a request,
attach its documents and complete its steps."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Path, Query, Router, Schema, Status, UploadedFile
from ninja.security import django_auth

from gridcounter.application.access import (
    SERVICE_REQUEST_ROLES,
    AccessDenied,
    ObjectHidden,
    access_account_by_number,
    access_service_request,
    require_request_opener,
    require_role,
)
from gridcounter.application.service import (
    DocumentRefused,
    RequestInputError,
    StepRefused,
    attach_document,
    check_document,
    complete_step,
    lookup_for_applicant,
    open_request,
    request_view,
)
from gridcounter.data.audit.context import Actor
from gridcounter.data.registry.models import Customer
from gridcounter.domain.service import DOCUMENT_NAMES, STEP_NAMES
from gridcounter.interfaces.api.contract import NO_NUL, answers, error, text

router = Router(tags=["service requests"])

NUMBER = Path(..., min_length=1, max_length=32, pattern=NO_NUL, description="the request number, e.g. DEMO-20261206-0001")
REQUEST_TYPES = ("NEW_CONNECTION_RESIDENTIAL", "NEW_CONNECTION_LOW_VOLTAGE", "NEW_CONNECTION_HIGH_VOLTAGE")


class StepOut(Schema):
    step: str
    name: str
    state: Literal["DONE", "CURRENT", "AHEAD"]
    limit_working_days: int
    due_date: date | None
    completed_at: datetime | None
    on_time: bool | None


class StaffStepOut(StepOut):
    role: str
    completed_by: str | None
    hall: str | None
    note: str
    recorded: dict
    documents_needed: list[str]


class RequestOut(Schema):
    number: str
    request_type: str
    type_name: str
    state: Literal["OPEN", "DONE"]
    opened_date: date
    opened_hall: str
    current_step: str | None
    current_due_date: date | None
    overdue_working_days: int
    steps: list[StepOut]


class StaffRequestOut(RequestOut):
    applicant_name: str
    address: str
    account: str | None
    blocked_by: str | None = None
    blocked_reason: str | None = None
    steps: list[StaffStepOut]
    created: bool = False


def _out(request, *, staff: bool, created: bool = False) -> dict:
    view = request_view(request, as_of=timezone.localdate())
    steps = []
    for s in view.steps:
        row = {"step": s.code, "name": s.name, "state": s.state, "limit_working_days": s.days, "due_date": s.due_date,
               "completed_at": s.done.completed_at if s.done else None, "on_time": s.on_time}
        if staff:
            row |= {"role": s.role, "completed_by": str(s.done.completed_by) if s.done and s.done.completed_by else None,
                    "hall": s.done.hall.name if s.done and s.done.hall else None,
                    "note": s.done.reason if s.done else "", "recorded": s.done.detail if s.done else {},
                    "documents_needed": s.documents_needed}
        steps.append(row)
    out = {"number": request.number, "request_type": request.request_type, "type_name": view.type_name,
           "state": request.state, "opened_date": request.opened_date, "opened_hall": request.opened_hall.name,
           "current_step": request.current_step or None, "current_due_date": request.current_due_date,
           "overdue_working_days": view.overdue_days, "steps": steps}
    if staff:
        out |= {"applicant_name": request.applicant_name, "address": request.address,
                "account": request.account.number if request.account_id else None,
                "blocked_by": view.blocker.code if view.blocker else None,
                "blocked_reason": view.blocker_text or None, "created": created}
    return out


def _unknown(number: str) -> Status:
    return error(404, "REQUEST_NOT_FOUND", _("no service request “%(value)s”") % {"value": number}, "number")


@router.get("/service-requests/{number}", response=answers({200: RequestOut}, 404, signed_in=False), auth=None,
            summary="The applicant's look-up: a request's steps and due dates, by its number and the ID number")
def lookup(request, number: str = NUMBER,
           id_number: str = Query(..., min_length=1, max_length=64, pattern=NO_NUL,
                                  description="the applicant's ID number, as on the application")):
    """No sign-in. A wrong ID number is answered exactly as an unknown request number (404 REQUEST_NOT_FOUND), so
    that a number alone tells nothing. Staff names are not shown."""
    found = lookup_for_applicant(number=number, id_number=id_number)
    if found is None:
        return _unknown(number)
    return Status(200, _out(found, staff=False))


class OpenIn(Schema):
    request_type: Literal[REQUEST_TYPES]
    applicant_name: str = text(min_length=1, max_length=200, blank=False)
    id_type: Literal[tuple(Customer.IdType.values)] = "RESIDENT_ID"
    id_number: str = text(min_length=1, max_length=64)
    address: str = text(min_length=1, max_length=300, blank=False, description="the supply address")
    phone: str = text(max_length=32, default="")
    capacity_kva: str | None = text(max_length=16, default=None, description="kVA applied for (non-residential)")
    account: str | None = text(max_length=32, default=None,
                               description="the account whose customer screen the request is started from")
    idempotency_key: str | None = text(min_length=1, max_length=64, default=None,
                                       description="a retry with the same key returns the request already opened")


def _actor(request, reason: str) -> Actor:
    user = request.user
    return Actor(user=user, hall=getattr(user, "hall", None), reason=reason, channel="API")


@router.post("/service-requests", response=answers({200: StaffRequestOut, 201: StaffRequestOut}, 404, 409),
             auth=django_auth, summary="Open a service request at the caller's hall (any hall of the city)")
def open_one(request, payload: OpenIn):
    """201 opened, 200 the same idempotency_key again. 403 unless a clerk, key-account manager or supervisor with a
    hall; 404 for an unknown (or another city's) account; 409 when an input is refused (its field named)."""
    user = request.user
    try:
        hall = require_request_opener(user, hall=getattr(user, "hall", None))
    except AccessDenied:
        return error(403, "FORBIDDEN", _("You may not open service requests."))
    origin = customer = None
    if payload.account:
        try:
            origin = access_account_by_number(user=user, number=payload.account)
        except ObjectHidden:
            return error(404, "ACCOUNT_NOT_FOUND", _("unknown account “%(value)s”") % {"value": payload.account},
                         "account")
    try:
        opened, created = open_request(
            request_type=payload.request_type, hall=hall, applicant_name=payload.applicant_name,
            id_type=payload.id_type, id_number=payload.id_number, address=payload.address, phone=payload.phone,
            capacity_kva=payload.capacity_kva, customer=customer, origin_account=origin,
            actor=_actor(request, "service request opened"), now=timezone.now(),
            idempotency_key=payload.idempotency_key)
    except RequestInputError as exc:
        return error(409, "REQUEST_REFUSED", exc, exc.field)
    return Status(201 if created else 200, _out(opened, staff=True, created=created))


def _staff_request(request, number: str):
    """The request if the caller may see it; else the refusal to answer."""
    try:
        require_role(request.user, *SERVICE_REQUEST_ROLES)
    except AccessDenied:
        return None, error(403, "FORBIDDEN", _("You may not work on service requests."))
    try:
        return access_service_request(user=request.user, number=number), None
    except ObjectHidden:
        return None, _unknown(number)


class DocumentOut(Schema):
    id: int
    kind: str
    step: str
    content_type: str
    size_bytes: int
    sha256: str
    created: bool


@router.post("/service-requests/{number}/documents", response=answers({200: DocumentOut, 201: DocumentOut}, 404, 409),
             auth=django_auth, summary="Keep a document with a request (PDF, JPEG or PNG, size-limited)")
def post_document(request, number: str = NUMBER, kind: Form[Literal[tuple(DOCUMENT_NAMES)]] = "ID",
                  file: File[UploadedFile] = None):
    """201 kept, 200 the same file again as the same document. 409 DOCUMENT_REFUSED (its type told by its bytes, its
    size, a request already done)."""
    found, refusal = _staff_request(request, number)
    if refusal is not None:
        return refusal
    if file is None:
        return error(409, "DOCUMENT_REFUSED", _("document: choose a file."), "file")
    try:
        checked = check_document(content=file.read(), size=file.size)
        document, created = attach_document(request=found, kind=kind, document=checked, original_name=file.name or "",
                                            actor=_actor(request, "document attached"), now=timezone.now())
    except DocumentRefused as exc:
        return error(409, "DOCUMENT_REFUSED", exc, exc.field)
    return Status(201 if created else 200, {"id": document.pk, "kind": document.kind, "step": document.step,
                                            "content_type": document.content_type, "size_bytes": document.size_bytes,
                                            "sha256": document.sha256, "created": created})


class StepIn(Schema):
    note: str = text(max_length=2000, default="", description="why, or what was found (the audit row's reason)")
    meter: str | None = text(max_length=64, default=None, description="INSTALLATION, SIGN_OFF: meter asset number")
    meter_digits: int | None = None
    multiplier: str | None = text(max_length=16, default=None)
    reading: str | None = text(max_length=16, default=None, description="INSTALLATION, FIRST_READING: the register")
    installed_date: date | None = None
    tariff_id: str | None = text(max_length=64, default=None, description="ACCOUNT: the tariff billed")
    account_number: str | None = text(max_length=32, default=None, description="ACCOUNT: 10 digits; given if empty")


@router.post("/service-requests/{number}/steps/{step}",
             response=answers({200: StaffRequestOut, 201: StaffRequestOut}, 404, 409), auth=django_auth,
             summary="Complete a step of a request (guarded; a retry changes nothing)")
def post_step(request, payload: StepIn, number: str = NUMBER,
              step: Literal[tuple(STEP_NAMES)] = Path(..., description="the step's code")):
    """201 completed, 200 completed already (a retry). 403 WRONG_ROLE when the step is another role's; 409 with the
    guard's code (INSTALLATION_NOT_COMPLETE, READER_NOT_SIGNED_OFF, NO_ACCOUNT_WITH_TARIFF, NO_METER_INSTALLATION,
    NOT_ENERGISED, NOT_INSPECTED, STEP_OUT_OF_ORDER, DOCUMENTS_MISSING, REQUEST_CLOSED, UNKNOWN_STEP) or
    STEP_INPUT_REFUSED with its field; 404 for an unknown or another city's request."""
    found, refusal = _staff_request(request, number)
    if refusal is not None:
        return refusal
    data = payload.dict(exclude={"note"}, exclude_none=True)
    if "installed_date" in data:
        data["installed_date"] = data["installed_date"].isoformat()
    now = timezone.now()
    try:
        outcome = complete_step(request=found, step=step, actor=_actor(request, payload.note or step), now=now,
                                data=data, note=payload.note)
    except StepRefused as exc:
        return error(403 if exc.code == "WRONG_ROLE" else 409, exc.code, exc, "step")
    except RequestInputError as exc:
        code = exc.code if exc.code == "UNKNOWN_STEP" else "STEP_INPUT_REFUSED"
        return error(409, code, exc, exc.field)
    return Status(201 if outcome.created else 200, _out(outcome.request, staff=True, created=outcome.created))

