"""Template helpers for the counter's transactions on the customer screen: the reading form, ledger actions."""
from __future__ import annotations

import re

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.access import may_enter_counter_readings, may_reverse_payments, may_review_bills
from gridcounter.application.ledger import business_date
from gridcounter.data.ledger.models import JournalEntry, Payment
from gridcounter.data.org.models import Role
from gridcounter.interfaces.web.counter_views import reading_form

register = template.Library()


@register.simple_tag(takes_context=True)
def counter_reading_form(context, account):
    """The reading form for ``account`` (meter and registers prefilled), or None if the user may not enter one."""
    request = context.get("request")
    if request is None or not may_enter_counter_readings(request.user):
        return None
    return reading_form(account=account, today=timezone.localdate())


@register.simple_tag(takes_context=True)
def can_reverse_payments(context) -> bool:
    request = context.get("request")
    return request is not None and may_reverse_payments(request.user)


@register.simple_tag(takes_context=True)
def offers_reversal(context, payment) -> bool:
    """Whether the ledger offers "Reverse…" on ``payment``: to a supervisor always; to a clerk on payments of
    today (the confirm step says why one that is not theirs, or whose day is closed, cannot be)."""
    request = context.get("request")
    if request is None or payment.status != Payment.Status.POSTED or not may_reverse_payments(request.user):
        return False
    user = request.user
    if user.is_superuser or user.has_role(Role.Code.ADMIN, Role.Code.SUPERVISOR):
        return True
    return payment.taken_date == business_date(timezone.now())


@register.simple_tag(takes_context=True)
def can_review_bills(context) -> bool:
    request = context.get("request")
    return request is not None and may_review_bills(request.user)


@register.filter
def entry_payment(entry):
    """The payment a PAYMENT journal entry booked, or None (no query for other kinds of entry)."""
    if entry.kind != JournalEntry.Kind.PAYMENT:
        return None
    return getattr(entry, "payment", None)


# The ledger stores a short English description with each entry ("Bill 2026-10"); the screen already names the
# kind of entry in the page's language, so under it goes only what it refers to: the period or the receipt.
_PERIOD = re.compile(r"^(?:Bill|Cancellation of bill|Rebilling difference|Late-payment penalty on bill) "
                     r"(?P<period>\d{4}-\d{2})(?: waived| dropped with the bill)?$")
_RECEIPT = re.compile(r"^(?:Payment|Reversal of payment) (?P<receipt>\S+)$")


@register.filter
def entry_description(entry) -> str:
    """A journal entry's description in the page's language; free text (an adjustment's) as it was typed."""
    text = entry.description or ""
    if match := _PERIOD.match(text):
        return _("Period %(period)s") % {"period": match.group("period")}
    if match := _RECEIPT.match(text):
        return _("Receipt %(receipt)s") % {"receipt": match.group("receipt")}
    return text
