"""Find a customer: prefix matches on indexed columns, limited to the accounts the user may see.

Each field is probed with its own query so that every probe can use that column's index (an OR across
joined tables cannot); the ids are then merged in a fixed priority order and the page shows at most
``LIMIT`` accounts. Within a field, accounts are listed in the order of the matched value (then by account
number), which is the order of that column's index: a probe reads at most ``LIMIT`` index entries in order
and stops, however many accounts share a short prefix (a surname, a region code, a street).

Index use: on PostgreSQL the prefix and the order are both written on ``column COLLATE "C"`` (code point
order), which the ``…_c`` expression indexes of migration ``registry.0003_search_indexes`` answer as one
ordered range scan. SQLite's LIKE is case-blind and cannot use an ordinary index, so there the prefix is
written as the range ``q <= col < q + U+10FFFF``, which the column's index answers in order (binary
collation orders by code point).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.functions import Collate
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


def sort_key(path: str):
    """The column at ``path`` in code point order, as its search index holds it."""
    if connection.vendor == "postgresql":
        return Collate(F(path), "C")
    return F(path)


def prefix_q(text: str) -> Q:
    """The probe's ``search_key`` (``sort_key`` of the column, annotated) starts with ``text``, written so that the
    column's index can answer it."""
    if connection.vendor == "sqlite":
        return Q(search_key__gte=text, search_key__lt=text + "\U0010ffff")
    return Q(search_key__startswith=text)


def _variants(text: str) -> list[str]:
    # ID numbers end in an upper-case X; asset numbers are upper case: a lower-case x typed still finds them.
    upper = text.upper()
    return [text] if upper == text else [text, upper]


def field_probe(*, scope: QuerySet[Account], path: str, text: str) -> QuerySet:
    """(id, matched value) of the first accounts in ``scope`` whose ``path`` starts with ``text``, in the order
    of that value, then account number: one ordered index range scan, stopped after ``LIMIT`` rows however
    many accounts share the prefix. An account can come twice (two matching meters); the caller keeps the first.
    """
    return (scope.annotate(search_key=sort_key(path)).filter(prefix_q(text)).order_by("search_key", "number")
            .values_list("id", "search_key")[:LIMIT * 2])


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
        for variant in _variants(text):  # one probe each: an OR of two ranges would lose the index order
            for account_id, _value in field_probe(scope=scope, path=path, text=variant):
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
