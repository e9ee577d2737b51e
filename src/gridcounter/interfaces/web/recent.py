"""The clerk's recent customers: the accounts this member of staff opened last, newest first, by the search box.

Kept per user in the database (``registry.RecentAccount``), one row per account moved forward on each visit, and
listed again through the user's scope, so an account the user may no longer see drops out.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction

from gridcounter.application.access import scoped_accounts
from gridcounter.data.registry.models import Account, RecentAccount

KEEP = 8


def remember(user, account: Account, *, opened_at: datetime) -> None:
    """Put ``account`` first in ``user``'s recent customers; keep the newest KEEP."""
    with transaction.atomic():
        RecentAccount.objects.update_or_create(user=user, account=account, defaults={"opened_at": opened_at})
        stale = list(RecentAccount.objects.filter(user=user).order_by("-opened_at", "-id")
                     .values_list("id", flat=True)[KEEP:])
        if stale:
            RecentAccount.objects.filter(id__in=stale).delete()


def recent_accounts(user) -> list[Account]:
    ids = list(RecentAccount.objects.filter(user=user).order_by("-opened_at", "-id")
               .values_list("account_id", flat=True)[:KEEP])
    if not ids:
        return []
    found = {a.id: a for a in scoped_accounts(user).filter(id__in=ids).select_related("customer", "premise")}
    return [found[i] for i in ids if i in found]
