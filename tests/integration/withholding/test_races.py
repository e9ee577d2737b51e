"""Two result files answering the same batch imported at the same moment, on real PostgreSQL row locks: the
bank's money is posted once."""
from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from gridcounter.application.ledger import balance_fen, check_ledger
from gridcounter.application.withholding import export_batch, import_results
from gridcounter.data.ledger.models import Payment, PenaltyCharge
from tests.factories import withholding as wh
from tests.factories.races import Concurrently, run_after

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite serialises writers on the whole database file; row locks need PostgreSQL"),
]


def penalty_charged(account) -> int:
    """The late-payment penalty the collection of an overdue bill charged (tests/integration/ledger/test_penalties.py)."""
    return sum(PenaltyCharge.objects.filter(account=account).values_list("amount_fen", flat=True))


def test_a_second_file_arriving_while_the_first_posts_waits_and_posts_nothing(small_city, tmp_path):
    wh.mandate(small_city)
    batch = export_batch(bank_code="ICBC", city=small_city.city, as_of=small_city.today,
                         created_at=timezone.now()).batch
    rows = wh.result_rows(batch)
    first = wh.result_file(tmp_path, rows, name="first.csv")
    resent = wh.result_file(tmp_path, [{**rows[0], "message": "重发"}], name="resent.csv")  # other bytes, same line
    other = Concurrently(lambda: import_results(path=str(resent), now=timezone.now()))
    interleaving = []

    # Given the first file's payment booked and its line still locked, the resent file starts
    with run_after("gridcounter.application.withholding._results.take_payment",
                   lambda: interleaving.append(other.start())):
        report = import_results(path=str(first), now=timezone.now())
    again = other.join()

    # Then it waited for the line, found its result recorded, and booked nothing
    assert interleaving == ["blocked"]
    assert (report.succeeded, again.succeeded, again.unchanged) == (1, 0, 1)
    assert Payment.objects.filter(account=small_city.account, channel="BANK_WITHHOLDING").count() == 1
    assert balance_fen(small_city.account) == penalty_charged(small_city.account)  # the bill was overdue
    assert check_ledger().ok
