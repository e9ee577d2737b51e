"""Template helpers for the counter: money in yuan, kWh, masked ID numbers, navigation by role."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from gridcounter.application.access import (
    may_administer,
    may_read_meters,
    may_review_bills,
    may_see_day_view,
    may_see_steps_due,
    may_see_work_orders,
    may_serve_customers,
    may_take_payments,
    may_waive_penalties,
)
from gridcounter.data.readings.models import Reading
from gridcounter.domain.ledger import format_fen

register = template.Library()


@register.filter
def yuan(fen) -> str:
    """Integer fen → '1,234.56' (never through a float)."""
    if fen is None or fen == "":
        return ""
    text = format_fen(int(fen))
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, cents = digits.split(".")
    return f"{sign}{int(whole):,}.{cents}"


@register.filter
def kwh(value) -> str:
    """A kWh amount without trailing zeros beyond what was measured: 123.00 → '123', 12.50 → '12.5'."""
    if value is None or value == "":
        return ""
    number = Decimal(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"


# What each validation or hold rule means, in words a clerk can say to the customer. The code stays in the
# title attribute for talking to the billing office; an unknown code is shown as it is.
RULE_LABELS = {
    "BILL_SHOCK": _("Bill shock"),
    "DECREASE": _("Reading went down"),
    "ROLLOVER": _("Meter rolled over"),
    "SPIKE": _("Sudden jump in usage"),
    "HIGH": _("Usage unusually high"),
    "LOW": _("Usage unusually low"),
    "ZERO_STREAK": _("No usage for several cycles"),
    "OFF_SCHEDULE": _("Read off the fixed reading day"),
    "MISSED": _("Missed reading"),
    "INACTIVE_METER": _("Meter not in service"),
    "DUPLICATE": _("Conflicting duplicate reading"),
    "ESTIMATE_STREAK": _("Too many estimates in a row"),
    "SWAP_SUSPECTED": _("Meters possibly swapped"),
    "SEASONAL_PEAK": _("Seasonal peak"),
}


@register.filter
def rule_label(code) -> str:
    """A rule code in words (BILL_SHOCK → 电费突增), or the code itself when it has no label."""
    label = RULE_LABELS.get(str(code))
    return str(label) if label is not None else str(code)


@register.filter
def rule(code):
    """A rule code as markup: its label with the code as a tooltip, or the bare code when it has no label."""
    if str(code) not in RULE_LABELS:
        return format_html("<code>{}</code>", code)
    return format_html('<span class="rule" data-code="{}" title="{}">{}</span>', code, code, rule_label(code))


@register.filter
def axis_kwh(value) -> str:
    """A chart axis tick, short enough for the axis margin: 2000000 → '200万' in Chinese, '2M' in English."""
    number = Decimal(value)
    chinese = (translation.get_language() or "").lower().startswith("zh")
    if chinese and abs(number) >= 10_000:
        return f"{(number / 10_000).normalize():f}万"
    if not chinese and abs(number) >= 1_000_000:
        return f"{(number / 1_000_000).normalize():f}M"
    if not chinese and abs(number) >= 10_000:
        return f"{(number / 1_000).normalize():f}k"
    return f"{int(number)}"


# the units a bill line is stored with, in words of the page's language
UNIT_LABELS = {"kWh": _("kWh"), "kVA·month": _("kVA·month")}


@register.filter
def unit_label(code) -> str:
    """A bill line's unit in the page's language (kWh → 千瓦时); any other unit ("%") as it is."""
    return str(UNIT_LABELS.get(code, code))


@register.filter
def register_label(code) -> str:
    """A meter register in words (PEAK → 峰 / Peak); an unknown code as it is."""
    return str(Reading.Register(code).label) if code in Reading.Register.values else str(code)


@register.filter
def last_day(end_date):
    """A bill's last day: its end date is the next period's reading day, so the bill covers up to the day before
    (as its explanation and the printed bill say: 2026-10-12 to 2026-11-11)."""
    if not isinstance(end_date, date):
        return end_date
    return end_date - timedelta(days=1)


@register.filter
def masked(value) -> str:
    """An ID number with the middle hidden: 110101199001011234 → 110***********1234."""
    text = str(value or "")
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


@register.filter
def masked_phone(value) -> str:
    """A phone number in a list of results, the middle hidden: 13800138000 → 138****8000."""
    text = str(value or "")
    if len(text) <= 7:
        return text[:1] + "*" * (len(text) - 1) if text else ""
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


@register.simple_tag(takes_context=True)
def may_search(context) -> bool:
    """Whether the signed-in user finds customers (the search box of every counter page)."""
    user = getattr(context.get("request"), "user", None)
    return bool(user is not None and user.is_authenticated and may_serve_customers(user))


@register.simple_tag(takes_context=True)
def may_waive(context) -> bool:
    """Whether the signed-in user is offered to waive a charged late-payment penalty."""
    user = getattr(context.get("request"), "user", None)
    return bool(user is not None and user.is_authenticated and may_waive_penalties(user))


@register.simple_tag(takes_context=True)
def nav_items(context) -> list[dict]:
    """The navigation the signed-in user's roles open (access rules decide, this only lists)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    items = []
    if user is None or not user.is_authenticated:
        return items
    if may_serve_customers(user):
        items.append({"url": reverse("home"), "label": _("Find a customer"), "key": "home", "accesskey": "f"})
    if may_review_bills(user):
        items.append({"url": reverse("review_queue"), "label": _("Review queue"), "key": "review_queue", "accesskey": "r"})
    if may_read_meters(user):
        items.append({"url": reverse("reader_route"), "label": _("My route"), "key": "reader_route", "accesskey": "m"})
    if may_take_payments(user):
        items.append({"url": reverse("till"), "label": _("My till"), "key": "till", "accesskey": "t"})
    if may_see_work_orders(user):
        items.append({"url": reverse("work_orders"), "label": _("Work orders"), "key": "work_orders",
                      "accesskey": "w"})
    if may_see_steps_due(user):
        items.append({"url": reverse("steps_due"), "label": _("Steps due"), "key": "steps_due", "accesskey": "s"})
    if may_see_day_view(user):
        items.append({"url": reverse("supervisor_day"), "label": _("Day view"), "key": "supervisor_day", "accesskey": "d"})
        items.append({"url": reverse("till_closes"), "label": _("Till closes"), "key": "till_closes",
                      "accesskey": "c"})
        items.append({"url": reverse("withholding_batches"), "label": _("Withholding"),
                      "key": "withholding_batches", "accesskey": "w"})
    if may_administer(user):
        items.append({"url": reverse("admin:index"), "label": _("Administration"), "key": "admin",
                      "accesskey": "a"})
    return items


@register.filter
def tariff_name(tariff_id: str) -> str:
    """A tariff id → its name from the catalogue, in the active language ('北京市居民合表用电'); the id if unknown."""
    from gridcounter.application.tariffs import get_catalogue

    tariff = get_catalogue().tariffs.get(tariff_id or "")
    if tariff is None:
        return tariff_id or ""
    chinese = (translation.get_language() or "").lower().startswith("zh")
    return tariff.name if chinese or not tariff.name_en else tariff.name_en
