"""Counter pages: sign-in, find a customer, the customer screen. Views translate requests; rules live in access."""
from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridcounter.application.access import (
    CUSTOMER_SERVICE_ROLES,
    INSTALLER,
    PENALTY_WAIVER_ROLES,
    access_account_by_number,
    access_mandate_account,
    may_open_requests,
    may_see_reading_photos,
    may_see_work_orders,
    may_serve_customers,
    may_sign_mandates,
    may_take_payments,
    require_payment_taker,
)
from gridcounter.application.counter import customer_screen
from gridcounter.application.ledger import (
    COUNTER_CHANNELS,
    ChannelNotAtCounter,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    ReasonRequired,
    TillClosed,
    WaiverRefused,
    balance_fen,
    counter_cash,
    take_payment,
    waive_penalty,
)
from gridcounter.application.readings import photos_by_reading
from gridcounter.application.withholding import (
    MandateRefused,
    active_mandate,
    bank_rules,
    cancel_mandate,
    mask_bank_account,
    sign_mandate,
)
from gridcounter.data.ledger.models import Payment, PenaltyCharge
from gridcounter.domain.ledger import MAX_TYPED_YUAN, InvalidAmount, format_fen, parse_yuan_amount
from gridcounter.interfaces.web.chart import usage_chart
from gridcounter.interfaces.web.decorators import is_htmx, staff_required
from gridcounter.interfaces.web.recent import recent_accounts, remember
from gridcounter.interfaces.web.search import LIMIT, find_accounts, normalise
from gridcounter.interfaces.web.service_views import render_work_orders, service_request_rows
from gridcounter.interfaces.web.templatetags.counter import yuan


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    http_method_names = ["post", "options"]


@staff_required()
def home(request):
    """Clerks land on "find a customer"; installers on their work orders (the installations due); other roles on
    the list of their screens (or a short note when there is none)."""
    if not may_serve_customers(request.user):
        if request.user.has_role(INSTALLER) and may_see_work_orders(request.user):
            return render_work_orders(request)
        return render(request, "web/home_other.html")
    return _search_page(request)


@staff_required(*CUSTOMER_SERVICE_ROLES)
def search(request):
    """Results as the clerk types (htmx fragment), or the whole page for a plain GET (reload, no script)."""
    query = normalise(request.GET.get("q", ""))
    hits = find_accounts(user=request.user, query=query)
    if is_htmx(request):
        return render(request, "web/_results.html", {"query": query, "hits": hits, "limit": LIMIT})
    if request.GET.get("go") and hits:
        # Enter in the search box: open the first result of exactly what was typed.
        return redirect("account", number=hits[0].account.number)
    return render(request, "web/home.html", {"query": query, "hits": hits, "limit": LIMIT,
                                             "recent": recent_accounts(request.user)})


def _search_page(request):
    query = normalise(request.GET.get("q", ""))
    hits = find_accounts(user=request.user, query=query) if query else []
    return render(request, "web/home.html", {"query": query, "hits": hits, "limit": LIMIT,
                                             "recent": recent_accounts(request.user)})


@staff_required(*CUSTOMER_SERVICE_ROLES)
def account_detail(request, number: str):
    """The customer screen. Another city's account answers 404 (see access.ObjectHidden)."""
    account = access_account_by_number(user=request.user, number=number)
    remember(request.user, account, opened_at=timezone.now())
    return _account_page(request, account)


def _amount_to_offer(screen) -> str:
    """What the payment form offers: the balance owed, with the penalty that paying the overdue bills today will
    charge (so that the customer leaves owing nothing), or nothing when the account owes nothing."""
    if screen.balance_fen <= 0:
        return ""
    arrears = screen.arrears
    accrued = arrears.penalty_fen if arrears.penalty_is_charged else 0
    return format_fen(screen.balance_fen + accrued)


def _account_page(request, account, *, payment_error: dict | None = None, mandate_error: dict | None = None,
                  waiver_error: dict | None = None, status: int = 200):
    """The customer screen; after a refused payment or mandate, the form keeps what was typed and says beside it
    why."""
    screen = customer_screen(account=account, as_of=timezone.localdate(), language=translation.get_language())
    u = screen.usage
    chart = usage_chart(kwh_by_period=u.kwh_by_period, estimated_periods=u.estimated_periods,
                        last_period=u.last_period, months=CHART_MONTHS, source=u.source, read_periods=u.read_periods)
    context = {"screen": screen, "account": account, "chart": chart,
               "service_requests": service_request_rows(account), "may_open_requests": may_open_requests(request.user)}
    if may_see_reading_photos(request.user):  # auditors and supervisors; the counter's clerks do not see them
        photos = photos_by_reading(view.reading.pk for view in screen.readings)
        for view in screen.readings:
            view.reading.photo_list = photos.get(view.reading.pk, [])
    if may_take_payments(request.user):
        typed = payment_error or {}
        # A fresh key per form: submitting the same form twice books the payment once.
        context["payment"] = {
            "idempotency_key": f"web-{uuid.uuid4().hex}", "channels": [(c.value, c.label) for c in COUNTER_CHANNELS],
            "amount": typed["amount"] if "amount" in typed else _amount_to_offer(screen),
            "channel": typed.get("channel", COUNTER_CHANNELS[0].value),
            "amount_error": typed.get("amount_error", ""), "channel_error": typed.get("channel_error", ""),
            "form_error": typed.get("form_error", ""), "tendered": typed.get("tendered", ""),
            "tendered_error": typed.get("tendered_error", ""), "confirm": typed.get("confirm"),
        }
    context["mandate"] = _mandate_card(request, account, typed=mandate_error or {})
    context["waiver_error"] = waiver_error or {}
    return render(request, "web/account.html", context, status=status)


def _mandate_card(request, account, *, typed: dict) -> dict:
    """The bank withholding card: the active mandate, and the forms to sign or cancel one for clerks."""
    language = translation.get_language() or "zh-hans"
    banks = bank_rules().banks
    mandate = active_mandate(account)
    return {
        "active": mandate, "may_change": may_sign_mandates(request.user),
        "bank_name": banks[mandate.bank_code].name(language) if mandate and mandate.bank_code in banks else (
            mandate.bank_code if mandate else ""),
        "masked": mask_bank_account(mandate.bank_account) if mandate else "",
        "banks": [(bank.code, bank.name(language)) for bank in banks.values()],
        "bank": typed.get("bank", ""), "holder": typed.get("holder", account.customer.name),
        "bank_account": typed.get("bank_account", ""), "reason": typed.get("reason", ""),
        "errors": typed.get("errors", {}),
    }


@require_POST
@staff_required(*CUSTOMER_SERVICE_ROLES)
def sign_mandate_view(request, number: str):
    """Sign the customer's withholding mandate; a refusal shows the form again as typed, the reason beside the
    field (400)."""
    account = access_mandate_account(user=request.user,
                                     account=access_account_by_number(user=request.user, number=number))
    typed = {key: request.POST.get(key, "").strip() for key in ("bank", "holder", "bank_account")}
    try:
        mandate = sign_mandate(account=account, bank_code=typed["bank"], holder_name=typed["holder"],
                               bank_account=typed["bank_account"], clerk=request.user, hall=request.user.hall,
                               signed_at=timezone.now())
    except MandateRefused as refused:
        return _account_page(request, account, status=400, mandate_error={
            **typed, "errors": {refused.field or "form": _("Mandate not signed. %(reason)s") % {
                "reason": str(refused)}}})
    messages.success(request, _("Withholding mandate signed: %(bank)s, account %(masked)s. Bills are collected "
                                "from the next batch.") % {
        "bank": bank_rules().banks[mandate.bank_code].name(translation.get_language() or "zh-hans"),
        "masked": mask_bank_account(mandate.bank_account)})
    return redirect("account", number=account.number)


@require_POST
@staff_required(*CUSTOMER_SERVICE_ROLES)
def cancel_mandate_view(request, number: str):
    """Cancel the account's active mandate, with the reason typed."""
    account = access_mandate_account(user=request.user,
                                     account=access_account_by_number(user=request.user, number=number))
    mandate = active_mandate(account)
    reason = request.POST.get("reason", "")
    if mandate is None:
        messages.info(request, _("The account has no active mandate; nothing was cancelled."))
        return redirect("account", number=account.number)
    try:
        cancel_mandate(mandate=mandate, by=request.user, hall=request.user.hall, reason=reason,
                       cancelled_at=timezone.now())
    except MandateRefused as refused:
        return _account_page(request, account, status=400, mandate_error={
            "reason": reason, "errors": {refused.field or "form": _("Mandate not cancelled. %(reason)s") % {
                "reason": str(refused)}}})
    messages.success(request, _("Withholding mandate cancelled. The account pays at the counter or online from "
                                "now on."))
    return redirect("account", number=account.number)


CHART_MONTHS = 24  # months of the customer screen's usage chart


@require_POST
@staff_required(*PENALTY_WAIVER_ROLES)
def waive_penalty_view(request, number: str, pk: int):
    """A supervisor of the account's city waives what is left of a charged penalty, with a reason (audited). A
    refused waiver shows the screen again, the reason beside the form (400)."""
    account = access_account_by_number(user=request.user, number=number)
    charge = PenaltyCharge.objects.filter(pk=pk, account=account).select_related("bill").first()
    back = reverse("account", args=[account.number]) + "#arrears-title"
    if charge is None:
        messages.error(request, _("No such late-payment penalty on this account."))
        return redirect(back)
    reason = request.POST.get("reason", "")
    try:
        waived = waive_penalty(charge=charge, supervisor=request.user, reason=reason, waived_at=timezone.now())
    except (ReasonRequired, WaiverRefused) as problem:
        return _account_page(request, account, status=400,
                             waiver_error={"charge": charge.pk, "reason": reason, "message": str(problem)})
    messages.success(request, _("The late-payment penalty on bill %(period)s is waived. Balance now %(balance)s "
                                "yuan.") % {"period": waived.bill.period, "balance": yuan(balance_fen(account))})
    return redirect(back)


@require_POST
@staff_required(*CUSTOMER_SERVICE_ROLES)
def take_payment_view(request, number: str):
    """Book a payment typed at the counter, then to the receipt. A refused one shows the form again as typed, the
    reason beside the field (400)."""
    account = access_account_by_number(user=request.user, number=number)
    require_payment_taker(request.user)
    channel = request.POST.get("channel", "")
    typed = request.POST.get("amount", "")
    tendered = request.POST.get("tendered", "").strip()
    refused = {"amount": typed, "channel": channel, "tendered": tendered}
    if channel not in COUNTER_CHANNELS:
        return _account_page(request, account, status=400, payment_error={
            **refused, "channel_error": _("Payment not booked. Payment method: choose cash or bank card.")})
    try:
        amount_fen = parse_yuan_amount(typed.strip(), field="amount")
        cash = counter_cash(account=account, amount_fen=amount_fen, channel=channel, tendered_fen=parse_yuan_amount(
            tendered, field="tendered") if tendered and channel == Payment.Channel.CASH else None)
        if cash.confirm and request.POST.get("confirmed") != str(amount_fen):
            # nothing booked yet: the clerk checks the amount with the customer, then confirms that amount (a
            # confirmation names the amount it confirms: one corrected after it is asked about again)
            return _account_page(request, account, payment_error={**refused, "confirm": {
                "amount": yuan(amount_fen), "amount_fen": amount_fen, "owed": yuan(cash.owed_fen),
                "multiple": cash.multiple}})
        result = take_payment(
            account=account, amount_fen=amount_fen, channel=channel, hall=request.user.hall, clerk=request.user,
            idempotency_key=request.POST.get("idempotency_key", ""), taken_at=timezone.now(), at_counter=True,
            cash_tendered_fen=None if cash.change_fen is None else cash.change_fen + amount_fen,
        )
    except InvalidAmount as problem:
        if problem.field == "tendered":
            return _account_page(request, account, status=400, payment_error={
                **refused, "tendered_error": _tendered_problem(tendered, problem.code)})
        return _account_page(request, account, status=400, payment_error={
            **refused, "amount_error": _("Payment not booked. Amount (yuan): %(problem)s") % {
                "problem": _amount_problem(typed, problem.code)}})
    except TillClosed as problem:
        return _account_page(request, account, status=409, payment_error={**refused, "form_error": str(problem)})
    except ChannelNotAtCounter as problem:
        return _account_page(request, account, status=400, payment_error={**refused, "channel_error": str(problem)})
    except (InvalidIdempotencyKey, IdempotencyKeyReused):
        return _account_page(request, account, status=400, payment_error={
            **refused, "form_error": _("Payment not booked: the form was out of date. Check the balance and try "
                                       "again.")})
    receipt = result.payment.receipt_number
    # As on the screen beside it: ¥14,800,284.04, not 14800284.04.
    amount = yuan(result.payment.amount_fen)
    if result.replayed:
        messages.info(request, _("Receipt %(receipt)s for %(amount)s yuan was already booked; nothing was charged "
                                 "again.") % {"receipt": receipt, "amount": amount})
    else:
        messages.success(request, booked_message(receipt=receipt, amount=amount, balance_fen=result.balance_fen))
        if cash.change_fen is not None:
            messages.success(request, _("Cash tendered %(tendered)s yuan: give back %(change)s yuan change.") % {
                "tendered": yuan(cash.change_fen + result.payment.amount_fen), "change": yuan(cash.change_fen)})
    return redirect("payment_done", pk=result.payment.pk)


def booked_message(*, receipt: str, amount: str, balance_fen: int) -> str:
    """The flash after a booking; credit is said as credit, never as a negative balance."""
    if balance_fen < 0:
        return _("Receipt %(receipt)s: %(amount)s yuan booked. Now %(credit)s yuan in credit.") % {
            "receipt": receipt, "amount": amount, "credit": yuan(-balance_fen)}
    return _("Receipt %(receipt)s: %(amount)s yuan booked. Balance now %(balance)s yuan.") % {
        "receipt": receipt, "amount": amount, "balance": yuan(balance_fen)}


def _tendered_problem(raw: str, code: str) -> str:
    if code == InvalidAmount.TOO_LITTLE:
        return _("Payment not booked. Cash tendered: %(tendered)s yuan is less than the amount paid.") % {
            "tendered": raw}
    return _("Payment not booked. Cash tendered (yuan): %(problem)s") % {"problem": _amount_problem(raw, code)}


def _amount_problem(raw: str, code: str) -> str:
    text = (raw or "").strip()
    if not text or code == InvalidAmount.REQUIRED:
        return _("enter the amount in yuan, e.g. 123.45")
    if code == InvalidAmount.TOO_LARGE:
        return _("“%(text)s” is more than %(largest)s yuan; check the amount") % {
            "text": text, "largest": yuan(int(MAX_TYPED_YUAN) * 100)}
    return _("“%(text)s” is not an amount in yuan greater than zero with at most two decimals, e.g. 123.45") % {
        "text": text}
