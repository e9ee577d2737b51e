"""Bills and the review queue over HTTP: GET /bills, GET /review, POST /review/{bill_id}/decision."""
from __future__ import annotations

from typing import Literal

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.security import django_auth

from gridcounter.application.access import (
    AUDITOR,
    CUSTOMER_SERVICE_ROLES,
    AccessDenied,
    ObjectHidden,
    access_account,
    access_account_by_number,
    is_admin,
    require_role,
)
from gridcounter.application.billing import (
    BillNotHeld,
    CorrectionRefused,
    InvalidPeriod,
    ReasonRequired,
    bills_for_account,
    decide,
    held_bills,
    local_today,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill, ReviewDecision
from gridcounter.data.readings.models import Reading
from gridcounter.interfaces.api.contract import (
    ID_IN_PATH,
    NO_NUL,
    Id,
    Month,
    ReadingValue,
    answers,
    error,
    text,
)

router = Router(tags=["billing"], auth=django_auth)


class DecisionIn(Schema):
    decision: Literal[tuple(ReviewDecision.Decision.values)]
    reason: str = text(max_length=2000, blank=False, description="why; required, not blank")
    meter_register: Literal[tuple(Reading.Register.values)] | None = Field(
        None, description="the register decided on (CORRECT_READING, ESTIMATE)")
    value: ReadingValue | None = Field(None, description="the corrected register value (CORRECT_READING)")


def _language(request) -> str:
    return "zh" if (getattr(request, "LANGUAGE_CODE", "") or "zh-hans").startswith("zh") else "en"


def _with_text(reasons: list[dict], lang: str) -> list[dict]:
    return [{**r, "text": r.get(f"text_{lang}", "")} for r in reasons]


@router.get("/bills", response=answers({200: dict}, 404),
            summary="An account's bills with lines and explanation (reason codes, numbers, sentences)")
def list_bills(request, account: str = Query(..., min_length=1, max_length=32, pattern=NO_NUL),
               period: Month | None = None):
    """Another city's account is answered as an unknown one (404)."""
    try:
        require_role(request.user, *CUSTOMER_SERVICE_ROLES)
        found = access_account_by_number(user=request.user, number=account)
        bills = bills_for_account(account=found, period=period)
    except ObjectHidden:
        return error(404, "NOT_FOUND", _("No such account."), "account")
    except AccessDenied as error_:
        return error(403, "FORBIDDEN", error_)
    except InvalidPeriod as error_:
        return error(422, "INVALID_PERIOD", error_, "period")
    lang = _language(request)
    for bill in bills:
        bill["explanation"] = _with_text(bill["explanation"], lang)
    return Status(200, {"account": found.number, "bills": bills})


@router.get("/review", response=answers({200: dict}),
            summary="Held bills awaiting review in the auditor's city (auditor role)")
def review_queue(request, period: Month | None = None,
                 rule: str | None = Query(None, min_length=1, max_length=32, pattern=NO_NUL),
                 route: str | None = Query(None, min_length=1, max_length=32, pattern=NO_NUL)):
    try:
        require_role(request.user, AUDITOR)
    except AccessDenied as error_:
        return error(403, "FORBIDDEN", error_)
    city_id = None if is_admin(request.user) else request.user.city_id
    lang = _language(request)
    items = [
        {**item.as_dict(), "reasons": _with_text(item.reasons, lang)}
        for item in held_bills(period=period, rule=rule, route_code=route, city_id=city_id)
    ]
    return Status(200, {"period": period, "count": len(items), "bills": items})


@router.post("/review/{bill_id}/decision", response=answers({200: dict}, 404, 409, 503),
             summary="Decide on a held bill: release, correct the reading, order a re-read, or estimate")
def review_decision(request, payload: DecisionIn, bill_id: Id = ID_IN_PATH):
    """Another city's bill is answered as an unknown one (404); 409 when the bill is no longer held or the
    decision cannot be applied to it."""
    bill = Bill.objects.select_related("account").filter(pk=bill_id).first()
    try:
        require_role(request.user, AUDITOR)
        if bill is None:
            raise ObjectHidden("no such bill", rule="NOT_FOUND")
        access_account(user=request.user, account=bill.account)
    except ObjectHidden:
        return error(404, "NOT_FOUND", _("No such bill."), "bill_id")
    except AccessDenied as error_:
        return error(403, "FORBIDDEN", error_)
    now = timezone.now()
    user = request.user
    try:
        with acting_as(Actor(user=user, hall=user.hall, reason=payload.reason, channel="API")):
            row = decide(bill=bill, decision=payload.decision, reason=payload.reason, decided_at=now,
                         as_of=local_today(now), register=payload.meter_register, value=payload.value)
    except BillNotHeld as error_:
        return error(409, "BILL_NOT_HELD", error_)
    except ReasonRequired:
        return error(422, "REASON_REQUIRED", _("Give a reason for the decision."), "reason")
    except CorrectionRefused as error_:
        return error(409, "DECISION_REFUSED", error_, error_.field)
    bill.refresh_from_db()
    return Status(200, {"bill": bill.pk, "status": bill.status, "decision": row.decision, "review_decision": row.pk,
                 "new_bill": row.new_bill_id, "new_status": row.new_bill.status if row.new_bill_id else None})
