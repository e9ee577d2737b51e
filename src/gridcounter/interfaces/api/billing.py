"""Bills and the review queue over HTTP: GET /bills, GET /review, POST /review/{bill_id}/decision."""
from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
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
from gridcounter.data.billing.models import Bill

router = Router(tags=["billing"], auth=django_auth)


class ErrorOut(Schema):
    code: str
    detail: str
    field: str = ""


class DecisionIn(Schema):
    decision: str = Field(..., description="RELEASE, CORRECT_READING, ORDER_REREAD or ESTIMATE")
    reason: str = Field(..., description="why; required")
    meter_register: str | None = Field(None, description="TOTAL, PEAK, FLAT or VALLEY (CORRECT_READING, ESTIMATE)")
    value: str | None = Field(None, description="the corrected register value, as a string (CORRECT_READING)")


def _language(request) -> str:
    return "zh" if (getattr(request, "LANGUAGE_CODE", "") or "zh-hans").startswith("zh") else "en"


def _with_text(reasons: list[dict], lang: str) -> list[dict]:
    return [{**r, "text": r.get(f"text_{lang}", "")} for r in reasons]


@router.get("/bills", response={200: dict, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
            summary="An account's bills with lines and explanation (reason codes, numbers, sentences)")
def list_bills(request, account: str, period: str | None = None):
    try:
        require_role(request.user, *CUSTOMER_SERVICE_ROLES)
        found = access_account_by_number(user=request.user, number=account)
        bills = bills_for_account(account=found, period=period)
    except ObjectHidden:
        return Status(404, {"code": "NOT_FOUND", "detail": _("No such account."), "field": "account"})
    except AccessDenied as error:
        return Status(403, {"code": "FORBIDDEN", "detail": str(error)})
    except InvalidPeriod as error:
        return Status(400, {"code": "INVALID_PERIOD", "detail": str(error), "field": "period"})
    lang = _language(request)
    for bill in bills:
        bill["explanation"] = _with_text(bill["explanation"], lang)
    return Status(200, {"account": found.number, "bills": bills})


@router.get("/review", response={200: dict, 403: ErrorOut},
            summary="Held bills awaiting review in the auditor's city (auditor role)")
def review_queue(request, period: str | None = None, rule: str | None = None, route: str | None = None):
    try:
        require_role(request.user, AUDITOR)
    except AccessDenied as error:
        return Status(403, {"code": "FORBIDDEN", "detail": str(error)})
    city_id = None if is_admin(request.user) else request.user.city_id
    lang = _language(request)
    items = [
        {**item.as_dict(), "reasons": _with_text(item.reasons, lang)}
        for item in held_bills(period=period, rule=rule, route_code=route, city_id=city_id)
    ]
    return Status(200, {"period": period, "count": len(items), "bills": items})


@router.post("/review/{bill_id}/decision", response={200: dict, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                                     409: ErrorOut},
             summary="Decide on a held bill: release, correct the reading, order a re-read, or estimate")
def review_decision(request, bill_id: int, payload: DecisionIn):
    bill = Bill.objects.select_related("account").filter(pk=bill_id).first()
    try:
        require_role(request.user, AUDITOR)
        if bill is None:
            raise ObjectHidden("no such bill", rule="NOT_FOUND")
        access_account(user=request.user, account=bill.account)
    except ObjectHidden:
        return Status(404, {"code": "NOT_FOUND", "detail": _("No such bill.")})
    except AccessDenied as error:
        return Status(403, {"code": "FORBIDDEN", "detail": str(error)})
    now = timezone.now()
    user = request.user
    try:
        with acting_as(Actor(user=user, hall=user.hall, reason=payload.reason, channel="API")):
            row = decide(bill=bill, decision=payload.decision, reason=payload.reason, decided_at=now,
                         as_of=local_today(now), register=payload.meter_register, value=payload.value)
    except BillNotHeld as error:
        return Status(409, {"code": "BILL_NOT_HELD", "detail": str(error)})
    except ReasonRequired:
        return Status(400, {"code": "REASON_REQUIRED", "detail": _("Give a reason for the decision."), "field": "reason"})
    except CorrectionRefused as error:
        field = str(error).split(":", 1)[0] if ":" in str(error) else ""
        return Status(400, {"code": "DECISION_REFUSED", "detail": str(error),
                     "field": field if field in ("value", "decision", "register") else ""})
    bill.refresh_from_db()
    return Status(200, {"bill": bill.pk, "status": bill.status, "decision": row.decision, "review_decision": row.pk,
                 "new_bill": row.new_bill_id, "new_status": row.new_bill.status if row.new_bill_id else None})
