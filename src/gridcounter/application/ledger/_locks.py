"""The ledger's lock order, and the retry of transactions the database gave up on.

Money use cases serialise per customer account, as Kill Bill serialises invoicing and payment per account: the
account's row is the lock, and every use case that changes money takes its locks in ONE order,

    route  ->  account  ->  bill  ->  payment  ->  allocation

each level in ascending id when several rows are locked. A bill run locks its routes, then all their accounts;
a payment locks its account (never the account's city or hall: payments of a city never wait for each other); a
rebill or a review decision locks the bill's account before the bill; a reversal locks the account, then the
payment. So a payment that commits while a bill run writes either committed before the run locked the account
(the run then sees it and applies the credit) or waits for the run's commit (and then settles the new bill).

The database may still refuse a transaction: PostgreSQL's deadlock detector or a serialization failure, and on
SQLite a write lock held beyond the busy timeout. `retrying` runs such a transaction again, a bounded number of
times, from its start; a client sees `Contention` (the API answers 503 with code CONTENTION), never a server error.
"""
from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.db import OperationalError, connection
from django.utils.translation import gettext as _

from gridcounter.data.registry.models import Account

logger = logging.getLogger("gridcounter.ledger")

ATTEMPTS = 5
RETRIED_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected

T = TypeVar("T")


class Contention(Exception):
    """The database refused the transaction ATTEMPTS times (deadlock, serialization failure, busy): try again."""

    def __init__(self, *, operation: str, attempts: int):
        self.operation = operation
        self.attempts = attempts
        super().__init__(_("The system is busy with the same account; nothing was changed. Please try again."))


def _retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    if getattr(cause, "sqlstate", None) in RETRIED_SQLSTATES:
        return True
    return connection.vendor == "sqlite" and "database is locked" in str(exc)


def retrying(function: Callable[..., T]) -> Callable[..., T]:
    """Run `function` (which opens its own transaction) again when the database refuses it for contention.

    Only the outermost call retries: inside a caller's transaction the error goes up to the caller, whose own
    transaction is the one to run again. Raises Contention after ATTEMPTS refusals."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        if connection.in_atomic_block:
            return function(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return function(*args, **kwargs)
            except OperationalError as exc:
                if not _retryable(exc):
                    raise
                logger.warning("%s refused by the database (%s), attempt %d of %d", function.__qualname__,
                               getattr(exc.__cause__, "sqlstate", None) or exc, attempt, ATTEMPTS)
                if attempt == ATTEMPTS:
                    raise Contention(operation=function.__qualname__, attempts=attempt) from exc
                time.sleep(random.uniform(0.01, 0.05) * 2 ** attempt)
        raise AssertionError("unreachable")

    return run


def lock_account(account_id: int) -> None:
    """The account's row lock, and nothing else's (not its city's, hall's or route's). Inside a transaction."""
    list(Account.objects.select_for_update(of=("self",)).filter(pk=account_id).values_list("pk"))


def lock_accounts(account_ids: Iterable[int]) -> None:
    """Several accounts' row locks, in ascending id (the lock order). Inside a transaction."""
    ids = sorted(set(account_ids))
    if not connection.features.has_select_for_update:
        return  # SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE)
    for start in range(0, len(ids), 10000):
        list(Account.objects.select_for_update(of=("self",)).filter(pk__in=ids[start:start + 10000])
             .order_by("pk").values_list("pk"))


def lock_route_accounts(route_ids: Iterable[int]) -> None:
    """Every account of the routes (a bill run's batch), in ascending id. Inside a transaction, after the routes'
    own locks."""
    if not connection.features.has_select_for_update:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Account._meta.db_table} WHERE route_id = ANY(%s) ORDER BY id FOR UPDATE",
                       [sorted(set(route_ids))])
