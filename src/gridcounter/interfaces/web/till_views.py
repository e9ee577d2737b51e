"""The till at the counter: the clerk's payments of the day and the close (日结), the hand-over to the bank (解款),
and the supervisor's page of each hall's and clerk's close with the sign-off of an over or short.
Views translate requests; the till's rules live in application.ledger (_till)."""
from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridcounter.application.access import (
    CUSTOMER_SERVICE_ROLES,
    DAY_VIEW_ROLES,
    require_payment_taker,
    supervised_halls,
)
from gridcounter.application.ledger import (
    COUNTER_CHANNELS,
    TillError,
    business_date,
    close_day,
    hall_closes,
    hand_over,
    reversals_of_day,
    sign_off,
    till_sheet,
)
from gridcounter.data.ledger.models import Payment, TillDay
from gridcounter.domain.ledger import DENOMINATIONS_FEN, InvalidAmount, format_fen, parse_yuan_amount
from gridcounter.interfaces.web.decorators import staff_required

# every channel a counter takes besides cash is declared and compared at the close
NON_CASH_AT_COUNTER = tuple(c for c in COUNTER_CHANNELS if c != Payment.Channel.CASH)


def _denomination_label(fen: int) -> str:
    return f"{fen // 100}" if fen % 100 == 0 else format_fen(fen)


def _sheet_page(request, *, error: str = "", field: str = "", posted=None, status: int = 200):
    today = business_date(timezone.now())
    sheet = till_sheet(clerk=request.user, hall=request.user.hall, day=today)
    posted = posted or {}
    return render(request, "web/counter/till.html", {
        "sheet": sheet, "error": error, "error_field": field, "close_rows": _close_rows(sheet.close),
        "denominations": [(d, _denomination_label(d), posted.get(f"cash_{d}", "")) for d in DENOMINATIONS_FEN],
        "non_cash": [(c.value, c.label, posted.get(f"noncash_{c.value}", "")) for c in NON_CASH_AT_COUNTER],
        "reason": posted.get("reason", ""),
    }, status=status)


def _close_rows(close: TillDay | None) -> list[tuple[str, int, int, int]]:
    """Each channel of a close: declared, expected (booked less post-close reversals), over (+) or short (−)."""
    if close is None:
        return []
    declared = {Payment.Channel.CASH.value: close.cash_declared_fen, **close.non_cash_declared}
    taken_out = close.post_close_reversals or {}
    expected = {c: close.booked.get(c, 0) - taken_out.get(c, 0) for c in set(close.booked) | set(taken_out)}
    counter = [c.value for c in COUNTER_CHANNELS]
    channels = counter + sorted((set(declared) | set(expected)) - set(counter))
    return [(Payment.Channel(c).label, declared.get(c, 0), expected.get(c, 0),
             declared.get(c, 0) - expected.get(c, 0)) for c in channels]


@staff_required(*CUSTOMER_SERVICE_ROLES)
def till(request):
    """``/till/``: the clerk's payments of today at their hall (reversals marked) and the close of the day."""
    require_payment_taker(request.user)
    return _sheet_page(request)


@require_POST
@staff_required(*CUSTOMER_SERVICE_ROLES)
def till_close(request):
    require_payment_taker(request.user)
    counts: dict[int, int] = {}
    for fen in DENOMINATIONS_FEN:
        raw = request.POST.get(f"cash_{fen}", "").strip() or "0"
        if not raw.isdigit():
            return _sheet_page(request, status=400, posted=request.POST, field=f"cash_{fen}", error=_(
                "Cash counted, %(note)s yuan: “%(value)s” is not a number of pieces.") % {
                "note": _denomination_label(fen), "value": raw})
        counts[fen] = int(raw)
    non_cash: dict[str, int | None] = {}
    for channel in NON_CASH_AT_COUNTER:
        raw = request.POST.get(f"noncash_{channel.value}", "").strip()
        if raw == "":
            non_cash[channel.value] = None  # not declared: refused if anything was booked on it
            continue
        if raw == "0":
            non_cash[channel.value] = 0
            continue
        try:
            non_cash[channel.value] = parse_yuan_amount(raw, field=channel.value)
        except InvalidAmount:
            return _sheet_page(request, status=400, posted=request.POST, field=f"noncash_{channel.value}", error=_(
                "%(channel)s total: “%(value)s” is not an amount in yuan, e.g. 123.45") % {
                "channel": channel.label, "value": raw})
    try:
        closed = close_day(clerk=request.user, hall=request.user.hall, day=business_date(timezone.now()),
                           cash_counted=counts, non_cash=non_cash, reason=request.POST.get("reason", ""),
                           closed_at=timezone.now())
    except TillError as problem:
        return _sheet_page(request, status=400, posted=request.POST, field=problem.field, error=str(problem))
    if closed.difference_fen:
        messages.warning(request, _("Day closed. The difference of %(amount)s yuan waits for a supervisor's "
                                    "sign-off.") % {"amount": format_fen(closed.difference_fen)})
    else:
        messages.success(request, _("Day closed; the till balances."))
    return redirect("till")


@require_POST
@staff_required(*CUSTOMER_SERVICE_ROLES)
def till_hand_over(request, pk: int):
    require_payment_taker(request.user)
    till_day = get_object_or_404(TillDay, pk=pk, clerk=request.user)
    try:
        hand_over(till=till_day, user=request.user, slip_number=request.POST.get("slip_number", ""),
                  amount_fen=till_day.cash_declared_fen, handed_at=timezone.now())
    except TillError as problem:
        return _sheet_page(request, status=400, field=problem.field, error=str(problem))
    messages.success(request, _("Hand-over to the bank recorded."))
    return redirect("till")


@staff_required(*DAY_VIEW_ROLES)
def till_closes(request):
    """``/supervisor/tills/?date=YYYY-MM-DD``: each hall's and clerk's close, over and short to sign off."""
    halls = supervised_halls(request.user)
    today = business_date(timezone.now())
    asked, bad_date = request.GET.get("date", "").strip(), ""
    try:
        day = min(date.fromisoformat(asked), today) if asked else today
    except ValueError:
        day, bad_date = today, asked[:20]
    return render(request, "web/counter/tills.html", {
        "closes": hall_closes(halls=halls, day=day), "day": day, "today": today, "bad_date": bad_date,
        "previous_day": day - timedelta(days=1), "next_day": day + timedelta(days=1) if day < today else None,
        "reversals": reversals_of_day(halls=halls, day=day)})


@require_POST
@staff_required(*DAY_VIEW_ROLES)
def till_sign_off(request, pk: int):
    halls = supervised_halls(request.user)
    till_day = get_object_or_404(TillDay, pk=pk, hall__in=halls)
    try:
        sign_off(till=till_day, supervisor=request.user, signed_at=timezone.now())
    except TillError as problem:
        messages.error(request, str(problem))
    else:
        messages.success(request, _("Over or short signed off."))
    return redirect(f"{reverse('till_closes')}?date={till_day.business_date.isoformat()}")
