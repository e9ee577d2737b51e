"""Find a customer: prefix matches on indexed columns, limited to the accounts the user may see.

Each field is probed with its own query so that every probe can use that column's index (an OR across
joined tables cannot); the ids are then merged in a fixed priority order and the page shows at most
``LIMIT`` accounts.

Index use: on PostgreSQL ``startswith`` becomes ``LIKE 'q%'``, which uses the ``varchar_pattern_ops``
("…_like") index Django creates beside every indexed or unique CharField. SQLite's LIKE is case-blind
and cannot use an ordinary index, so there the prefix is written as the range ``q <= col < q + U+10FFFF``,
which the column's index answers (binary collation orders by code point).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from gridcounter.application.access import scoped_accounts
from gridcounter.data.registry.models import Account, Installation

LIMIT = 20
MAX_QUERY_LENGTH = 64

# (field code, lookup path from Account) in the order results are listed.
FIELDS = (
    ("NUMBER", "number"),
    ("METER", "installations__meter__asset_number"),
    ("ID_NUMBER", "customer__id_number"),
    ("PHONE", "customer__phone"),
    ("NAME", "customer__name"),
    ("ADDRESS", "premise__address"),
)

FIELD_LABELS = {
    "NUMBER": _("account number"),
    "METER": _("meter asset number"),
    "ID_NUMBER": _("ID number"),
    "PHONE": _("phone"),
    "NAME": _("customer name"),
    "ADDRESS": _("address"),
}


@dataclass(frozen=True)
class Hit:
    account: Account
    matched: str  # one of the field codes above
    meter_numbers: list[str]  # meters installed now

    @property
    def matched_label(self):
        return FIELD_LABELS[self.matched]


def normalise(query: str) -> str:
    """Trim and collapse whitespace; cut overly long input."""
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


def prefix_q(path: str, text: str) -> Q:
    """``path`` starts with ``text``, written so that the column's index can answer it."""
    if connection.vendor == "sqlite":
        return Q(**{f"{path}__gte": text, f"{path}__lt": text + "\U0010ffff"})
    return Q(**{f"{path}__startswith": text})


def _variants(text: str) -> list[str]:
    # ID numbers end in an upper-case X; asset numbers are upper case: a lower-case x typed still finds them.
    upper = text.upper()
    return [text] if upper == text else [text, upper]


def field_probe(*, scope: QuerySet[Account], path: str, text: str) -> QuerySet:
    """Ids of accounts in ``scope`` whose ``path`` starts with ``text`` (one index range scan)."""
    condition = Q()
    for variant in _variants(text):
        condition |= prefix_q(path, variant)
    return scope.filter(condition).order_by("number").values_list("id", flat=True).distinct()[:LIMIT]


def find_accounts(*, user, query: str) -> list[Hit]:
    """Accounts of the user's city whose number, meter, ID number, phone, name or address starts with ``query``."""
    text = normalise(query)
    if not text:
        return []
    scope = scoped_accounts(user)
    matched: dict[int, str] = {}
    for code, path in FIELDS:
        if len(matched) >= LIMIT:
            break
        for account_id in field_probe(scope=scope, path=path, text=text):
            matched.setdefault(account_id, code)
    current = Prefetch(
        "installations",
        queryset=Installation.objects.filter(removed_date__isnull=True).select_related("meter"),
        to_attr="current_installations",
    )
    accounts = {
        a.id: a
        for a in Account.objects.filter(id__in=list(matched)[:LIMIT])
        .select_related("customer", "premise", "home_hall")
        .prefetch_related(current)
    }
    return [
        Hit(account=accounts[account_id], matched=code,
            meter_numbers=[i.meter.asset_number for i in accounts[account_id].current_installations])
        for account_id, code in list(matched.items())[:LIMIT]
        if account_id in accounts
    ]
