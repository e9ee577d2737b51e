"""Template helpers for the counter's transactions on the customer screen: the reading form, ledger actions."""
from __future__ import annotations

from django import template
from django.utils import timezone

from gridcounter.application.access import may_enter_counter_readings, may_reverse_payments
from gridcounter.data.ledger.models import JournalEntry
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


@register.filter
def entry_payment(entry):
    """The payment a PAYMENT journal entry booked, or None (no query for other kinds of entry)."""
    if entry.kind != JournalEntry.Kind.PAYMENT:
        return None
    return getattr(entry, "payment", None)
