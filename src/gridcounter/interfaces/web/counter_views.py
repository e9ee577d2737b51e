"""Counter transactions: the receipt after a payment (page and PDF), reversal, a bill as PDF, a reading the
customer brought, and the supervisor's day. Views translate requests; access rules live in access.py."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridcounter.application.access import (
    COUNTER_READING_ROLES,
    CUSTOMER_SERVICE_ROLES,
    DAY_VIEW_ROLES,
    PAYMENT_ROLES,
    access_account_by_number,
    access_bill,
    access_payment,
    supervised_halls,
)
from gridcounter.application.billing import bill_print
from gridcounter.application.ledger import (
    REVERSAL_REASONS,
    ReasonRequired,
    ReversalNotAllowed,
    account_arrears,
    balance_fen,
    business_date,
    day_summary,
    receipt_for,
    reversal_kind,
    reverse_payment,
)
from gridcounter.application.readings import (
    ClientKeyConflict,
    CounterReadingError,
    NeedsConfirmation,
    ReadingInputError,
    submit_counter_readings,
)
from gridcounter.data.audit.context import Actor
from gridcounter.data.ledger.models import Payment
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Installation
from gridcounter.domain.billing.periods import period_of
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.ledger import format_fen
from gridcounter.domain.readings.codes import Code
from gridcounter.interfaces.web.chart import usage_chart
from gridcounter.interfaces.web.decorators import is_htmx, staff_required
from gridcounter.interfaces.web.pdf import pdf_response, render_pdf
from gridcounter.interfaces.web.typed import typed_value

PDF_LANGUAGES = ("zh-hans", "en")
BILL_CHART_MONTHS = 24


# --- receipts -----------------------------------------------------------------------------------------------


@staff_required(*CUSTOMER_SERVICE_ROLES)
def payment_done(request, pk: int):
    """After booking: the receipt number, what was paid off, the balance, and the receipt to print."""
    payment = access_payment(user=request.user, payment_id=pk)
    return render(request, "web/counter/payment_done.html", {
        "receipt": receipt_for(payment), "account": payment.account,
        "balance_fen": _current_balance(payment.account),
    })


def _current_balance(account: Account) -> int:
    return balance_fen(account)


@staff_required(*CUSTOMER_SERVICE_ROLES)
def receipt_pdf(request, pk: int):
    payment = access_payment(user=request.user, payment_id=pk)
    language = _pdf_language(request)
    with translation.override(language):
        content = render_pdf(template="web/pdf/receipt.html", request=request, context={
            "receipt": receipt_for(payment), "account": payment.account, "language": language,
            "printed_local": timezone.localtime(timezone.now(), BUSINESS_TZ), "printed_by": request.user,
        })
    return pdf_response(content=content, filename=f"receipt-{payment.receipt_number}.pdf")


REVERSE_BACK = {"till": "till"}  # where the confirm step returns to, besides the customer screen


def _reverse_back(request, payment) -> str:
    back = request.POST.get("back") or request.GET.get("back") or ""
    return reverse(REVERSE_BACK[back]) if back in REVERSE_BACK else reverse("account", args=[payment.account.number])


def _reverse_page(request, payment, *, kind: str = "", refusal: str = "", error: str = "", status: int = 200):
    """The confirm step: what is reversed (receipt, amount, customer, account) and why; or why it may not be."""
    back = request.POST.get("back") or request.GET.get("back") or ""
    context = {
        "payment": payment, "account": payment.account, "kind": kind, "refusal": refusal, "error": error,
        "reasons": REVERSAL_REASONS, "reason_code": request.POST.get("reason_code", ""),
        "reason_text": request.POST.get("reason", ""), "back": back if back in REVERSE_BACK else "",
        "back_url": _reverse_back(request, payment), "taken_local": timezone.localtime(payment.taken_at, BUSINESS_TZ),
    }
    if is_htmx(request):  # htmx swaps only 2xx answers: the fragment itself says it is a refusal
        return render(request, "web/counter/_reverse_confirm.html", context)
    return render(request, "web/counter/reverse_confirm.html", context, status=status)


def _typed_reason(request) -> str:
    """The reason as stored: the reason picked (in the clerk's language), with the words typed after it."""
    code, text = request.POST.get("reason_code", ""), request.POST.get("reason", "").strip()
    label = dict(REVERSAL_REASONS).get(code)
    if label is None or code == "OTHER":
        return text
    return f"{label}: {text}" if text else str(label)


@staff_required(*PAYMENT_ROLES)
def reverse_payment_view(request, pk: int):
    """GET: the confirm step of a reversal (or why this user may not reverse it). POST, from that step: reverse it.
    The clerk who took the payment may, the same open day; a supervisor of the account's city always; both give a
    reason (`application.ledger.reversal_kind`)."""
    payment = access_payment(user=request.user, payment_id=pk)
    now = timezone.now()
    if payment.status == Payment.Status.REVERSED and request.method != "POST":
        messages.info(request, _("Payment %(receipt)s was already reversed; nothing changed.")
                      % {"receipt": payment.receipt_number})
        return redirect(_reverse_back(request, payment))
    try:
        kind = reversal_kind(payment=payment, user=request.user, day=business_date(now))
    except ReversalNotAllowed as refusal:
        if payment.status != Payment.Status.REVERSED:
            return _reverse_page(request, payment, refusal=str(refusal), status=403)
        kind = ""
    if request.method != "POST":
        return _reverse_page(request, payment, kind=kind)
    try:
        result = reverse_payment(payment=payment, by=request.user, reason=_typed_reason(request), reversed_at=now)
    except ReasonRequired as problem:
        return _reverse_page(request, payment, kind=kind, error=str(problem), status=400)
    except ReversalNotAllowed as refusal:
        return _reverse_page(request, payment, refusal=str(refusal), status=403)
    if result.replayed:
        messages.info(request, _("Payment %(receipt)s was already reversed; nothing changed.")
                      % {"receipt": payment.receipt_number})
    else:
        messages.success(request, _("Payment %(receipt)s reversed. Balance now %(balance)s yuan.") % {
            "receipt": payment.receipt_number, "balance": _yuan(result.balance_fen)})
    response = redirect(_reverse_back(request, payment))
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = _reverse_back(request, payment)
    return response


# --- a bill as PDF ------------------------------------------------------------------------------------------


@staff_required(*CUSTOMER_SERVICE_ROLES)
def bill_pdf(request, pk: int):
    """``/bills/<id>.pdf?lang=zh-hans|en``: the bill as the customer takes it home."""
    bill = access_bill(user=request.user, bill_id=pk)
    language = _pdf_language(request)
    with translation.override(language):
        content = render_pdf(template="web/pdf/bill.html", request=request, context={
            "doc": (doc := bill_print(bill=bill, hall=request.user.hall, language=language)),
            "chart": usage_chart(kwh_by_period=doc.kwh_by_period, estimated_periods=doc.estimated_periods,
                                 last_period=bill.period, months=BILL_CHART_MONTHS, read_periods=doc.read_periods),
            "account": bill.account, "arrears": account_arrears(account=bill.account, as_of=timezone.localdate()),
            "language": language, "printed_local": timezone.localtime(timezone.now(), BUSINESS_TZ),
        })
    return pdf_response(content=content, filename=f"bill-{bill.account.number}-{bill.period}.pdf")


def _pdf_language(request) -> str:
    wanted = (request.GET.get("lang") or translation.get_language() or "zh-hans").lower()
    if wanted.startswith("zh"):
        return "zh-hans"
    return "en" if wanted.startswith("en") else "zh-hans"


# --- a reading the customer brought -------------------------------------------------------------------------

def _in_doubt(reasons: list[dict]) -> list[dict]:
    """The reasons that put a customer's value in doubt: being off the fixed day is kept on the reading as
    information (it is carried to the fixed day, docs/readings.md), not said to the clerk as a doubt."""
    return [reason for reason in reasons if reason["code"] != Code.OFF_SCHEDULE]



def reading_form(*, account: Account, today: date) -> dict:
    """The counter's reading form: the meter in service, one field per register with its last reading and date
    beside it, a fresh client key. The key makes a double submission of the same form store the readings once.
    """
    installations = list(Installation.objects.filter(account=account).select_related("meter")
                         .order_by("removed_date", "-installed_date"))
    in_service = [i for i in installations if i.removed_date is None or i.removed_date > today]
    meters = []
    for i in in_service:
        registers = []
        for code in (i.meter.registers or ["TOTAL"]):
            if code not in Reading.Register.values:
                continue
            last = (Reading.objects.filter(meter=i.meter, register=code, read_date__lte=today,
                                           status__in=[Reading.Status.ACCEPTED, Reading.Status.HELD])
                    .order_by("-read_at", "-id").only("value", "read_date", "is_estimate").first())
            registers.append({"code": code, "label": Reading.Register(code).label, "last": last})
        meters.append({"asset_number": i.meter.asset_number, "registers": registers})
    return {"meters": meters, "date": today.isoformat(), "client_key": f"counter-{uuid.uuid4().hex}"}


@require_POST
@staff_required(*COUNTER_READING_ROLES)
def enter_reading(request, number: str):
    """Store the reading through the same validation as every other (source CUSTOMER); show the outcome."""
    account = access_account_by_number(user=request.user, number=number)
    now = timezone.now()
    today = timezone.localdate(now)
    form = reading_form(account=account, today=today)
    context = {"account": account, "form": form}
    values = {key[len("value_"):]: text for key, text in request.POST.items()
              if key.startswith("value_") and key[len("value_"):] in Reading.Register.values}
    if not values:  # the one-field form: register and value
        values = {request.POST.get("register") or "TOTAL": request.POST.get("value", "")}
    posted = {"meter": request.POST.get("meter", ""), "values": values, "read_date": request.POST.get("read_date", ""),
              "client_key": request.POST.get("client_key", "")}
    language = translation.get_language() or "zh-hans"
    try:
        results = submit_counter_readings(
            account=account, asset_number=posted["meter"], read_date=posted["read_date"],
            values={register: typed_value(text) for register, text in values.items()},
            client_key=posted["client_key"], now=now, today=today, confirmed=request.POST.get("confirmed") == "1",
            actor=Actor(user=request.user, hall=request.user.hall, reason=_("reading brought to the counter"),
                        channel="WEB"))
    except (CounterReadingError, ReadingInputError) as error:
        context.update(error=str(error), error_field=error.field, posted=posted)
    except ClientKeyConflict:
        context.update(error=_("The form was out of date. Check the readings and enter the value again."),
                       posted=posted)
    except NeedsConfirmation as doubt:
        # nothing stored: the clerk reads the value back to the customer, then confirms or corrects it
        form["client_key"] = posted["client_key"]
        context.update(posted=posted, confirm=[{"register": o.reading.register, "value": o.reading.value,
                                                "reasons": _in_doubt(o.reasons(language))} for o in doubt.outcomes])
    else:
        context["form"] = form = reading_form(account=account, today=today)  # the new readings are now the last
        context["results"] = [{"outcome": r.outcome, "reasons": _in_doubt(r.outcome.reasons(language)),
                               "carried": r.carried} for r in results]
    for meter in form["meters"]:
        for line in meter["registers"]:
            line["posted"] = (posted.get("values") or {}).get(line["code"], "") if "posted" in context else ""
    template = "web/counter/_reading_card.html" if is_htmx(request) else "web/counter/reading_result.html"
    return render(request, template, context, status=422 if context.get("error") and not is_htmx(request) else 200)


# --- the supervisor's day -----------------------------------------------------------------------------------


@staff_required(*DAY_VIEW_ROLES)
def supervisor_day(request):
    """``/supervisor/day/?date=YYYY-MM-DD``: the day's takings per hall, clerk and channel; the review backlog."""
    halls = supervised_halls(request.user)
    today = timezone.localdate()
    raw = request.GET.get("date", "").strip()
    day, error = today, ""
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            error = _("Date: “%(value)s” is not a date like %(example)s; showing today.") % {
                "value": raw, "example": today.isoformat()}
    return render(request, "web/counter/day.html", {
        "summary": day_summary(halls=halls, day=day), "error": error, "today": today,
        "previous_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "period": period_of(day),
    })


def _yuan(fen: int) -> str:
    return format_fen(fen)


__all__ = [
    "bill_pdf", "enter_reading", "payment_done", "reading_form", "receipt_pdf", "reverse_payment_view", "supervisor_day",
]
