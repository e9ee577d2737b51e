"""Template helpers for the counter: money in yuan, kWh, masked ID numbers, navigation by role."""
from __future__ import annotations

from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from gridcounter.application.access import (
    may_administer,
    may_read_meters,
    may_review_bills,
    may_see_day_view,
    may_serve_customers,
)
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


@register.filter
def masked(value) -> str:
    """An ID number with the middle hidden: 110101199001011234 → 110***********1234."""
    text = str(value or "")
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


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
    if may_see_day_view(user):
        items.append({"url": reverse("supervisor_day"), "label": _("Day view"), "key": "supervisor_day", "accesskey": "d"})
    if may_administer(user):
        items.append({"url": reverse("admin:index"), "label": _("Administration"), "key": "admin",
                      "accesskey": "a"})
    return items
