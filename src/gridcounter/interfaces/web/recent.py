"""The clerk's recent customers: the accounts opened last in this sign-in, newest first, shown by the search box.

Kept in the session (one per sign-in, so per user) as account numbers only; listed again through the user's
scope, so an account the user may no longer see drops out.
"""
from __future__ import annotations

from gridcounter.application.access import scoped_accounts
from gridcounter.data.registry.models import Account

SESSION_KEY = "recent_accounts"
KEEP = 8


def remember(request, account: Account) -> None:
    numbers = [n for n in request.session.get(SESSION_KEY, []) if n != account.number]
    request.session[SESSION_KEY] = [account.number, *numbers][:KEEP]


def recent_accounts(request) -> list[Account]:
    numbers = request.session.get(SESSION_KEY, [])
    if not numbers:
        return []
    found = {a.number: a for a in scoped_accounts(request.user).filter(number__in=numbers)
             .select_related("customer", "premise")}
    return [found[n] for n in numbers if n in found]
