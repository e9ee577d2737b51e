"""Find a customer: prefix matches on indexed columns, then any part of a name or address, pinyin, initials and
a name with one wrong character, limited to the accounts the user may see.

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

Beyond prefixes, the probes read the customers' and premises' search keys (``domain.search_keys``: name, given
name, pinyin, initials; address, building): text of two characters must start a word of the key (``% q%``),
longer text may be anywhere in it (``%q%``), and a Chinese name of three or four characters may have one
character wrong (the key's ``~`` words). An index answers these patterns on both databases (``key_match``): on
PostgreSQL the trigram GIN indexes of migration ``registry.0005_search_keys`` (the leading space of a word pads its
first trigram, so two characters are enough), on SQLite the FTS5 trigram tables of migration
``registry.0006_sqlite_search_key_fts``, kept in step with the keys by triggers (the space counts as one of the
three characters in a row that an FTS5 LIKE needs to use its index). Such a probe stops after ``LIMIT`` matches
in no particular order, and its matches are listed by account number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Collate
from django.db.models.lookups import Lookup
from django.utils.translation import gettext_lazy as _

from gridcounter.application.access import scoped_accounts
from gridcounter.data.registry.models import Account, Installation
from gridcounter.domain.search_keys import normalise_text, one_typo_words

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
    "NAME_PART": _("part of the name or its pinyin"),
    "ADDRESS_PART": _("part of the address"),
    "NAME_SIMILAR": _("a similar name"),
}

# (field code, search key path from Account) of the probes that read the search keys, in the order listed.
KEY_FIELDS = (
    ("NAME_PART", "customer__search_key"),
    ("ADDRESS_PART", "premise__search_key"),
)


class Like(Lookup):
    """``lhs LIKE pattern``, the pattern as given (``%`` and ``_`` are wildcards; ``\\`` escapes them)."""

    lookup_name = "gc_like"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def key_patterns(text: str) -> list[tuple[str, str, str]]:
    """(field code, search key path, LIKE pattern) of the key probes for ``text``, normalised as keys are."""
    if len(text) < 2:
        return []  # one character: the prefix probes answer it (a surname alone)
    word = _escape_like(text)
    pattern = f"% {word}%" if len(text) == 2 else f"%{word}%"
    patterns = [(code, path, pattern) for code, path in KEY_FIELDS]
    # A name of the same length with one character wrong shares the word of that position (see search_keys).
    patterns += [("NAME_SIMILAR", "customer__search_key", f"% {_escape_like(word)} %") for word in one_typo_words(text)]
    return patterns


def key_match(scope: QuerySet[Account], path: str, pattern: str) -> QuerySet[Account]:
    """The accounts of ``scope`` whose search key at ``path`` (``customer__search_key`` or ``premise__search_key``)
    is LIKE ``pattern`` (a pattern of ``key_patterns``), written so that the backend's index answers it.

    PostgreSQL: the LIKE on the column, which its trigram GIN index answers. SQLite: the scope joined to the rows
    that the column's FTS5 trigram table (migration ``registry.0006_sqlite_search_key_fts``) finds with the same
    LIKE, which it answers from its index when the pattern holds three characters in a row (``% q%`` for two
    characters has three, with the space); SQLite itself then checks the LIKE on each row found, so the rows are
    those of the LIKE on the column. A join (``extra``: the FTS table has no model), not ``IN (SELECT rowid …)``,
    whose FTS rows lead, so that a probe stops after ``LIMIT`` accounts instead of first collecting every match
    (~350 ms for a common part of an address at 200,000 premises); the ``+`` keeps SQLite from reading the FTS
    table by each account's key instead, as it would without statistics (every account of the city read).
    A pattern the FTS index cannot answer keeps the LIKE on the column (a scan, as without the index): one with an
    escaped ``%``, ``_`` or ``\\`` (the FTS table answers a LIKE with ``ESCAPE`` by reading all its rows) or
    without three characters in a row (the FTS table would read all its rows, or, SQLite 3.40 counting bytes, not
    characters, find nothing for two Chinese characters).
    """
    if connection.vendor == "sqlite" and "\\" not in pattern and max(map(len, re.split(r"[%_]", pattern))) >= 3:
        relation = path.removesuffix("__search_key")
        fts = f"{Account._meta.get_field(relation).related_model._meta.db_table}_fts"
        column = f"{Account._meta.db_table}.{Account._meta.get_field(relation).column}"
        return scope.extra(tables=[fts], where=[f"+{fts}.rowid = {column}", f"{fts}.search_key LIKE %s"],
                           params=[pattern])
    return scope.filter(Like(F(path), Value(pattern)))


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

    The ``isnull`` filter comes first so that the joins to the meters are inner joins, which the annotation then
    reuses: SQLite keeps a left join's order (every account of the scope read first, ~80 ms at 200,000 accounts)
    where PostgreSQL turns it into an inner join, since the prefix rejects a missing meter anyway.
    """
    return (scope.filter(**{f"{path}__isnull": False}).annotate(search_key=sort_key(path)).filter(prefix_q(text))
            .order_by("search_key", "number").values_list("id", "search_key")[:LIMIT * 2])


def find_accounts(*, user, query: str) -> list[Hit]:
    """Accounts of the user's city whose number, meter, ID number, phone, name or address starts with ``query``,
    then those whose name or address contains it, in Chinese or pinyin, or whose name differs by one character."""
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
    for code, path, pattern in key_patterns(normalise_text(text)):
        if len(matched) >= LIMIT:
            break
        found = key_match(scope, path, pattern).values_list("id", "number")[:LIMIT]
        for account_id, _number in sorted(found, key=lambda row: row[1]):
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
