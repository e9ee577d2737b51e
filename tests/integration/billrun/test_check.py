"""Every batch re-drafts a sample of its kernel-rated bills through the reference rules and refuses a difference."""
from datetime import UTC, datetime

import polars as pl
import pytest

from gridcounter.application import billing, billrun
from gridcounter.application.billrun import ReferenceMismatch, check_against_reference, sample_accounts
from gridcounter.application.tariffs import get_catalogue
from gridcounter.data.audit.context import acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.registry.models import Account, Route
from tests.factories.cities import BILL_RUN_ACTOR as ACTOR
from tests.factories.cities import BILL_RUN_AS_OF as AS_OF
from tests.factories.cities import BILL_RUN_PERIOD as PERIOD
from tests.factories.cities import bill_run_history

pytestmark = pytest.mark.django_db


def prepared(city):
    bill_run_history(city)
    routes = list(Route.objects.filter(city=city.city, reading_day=15).order_by("pk"))
    due_days, threshold = billing.run_limits(None, None)
    return billrun.prepare_batch(routes=routes, period=PERIOD, catalogue=get_catalogue(),
                                      threshold=threshold)


def test_a_run_checks_one_account_of_each_shape_of_bill(city):
    batch = prepared(city)
    tariffs = set(batch.bills.filter(pl.col("account_id").is_in(list(batch.kernel_ids)))["tariff_id"].to_list())
    assert batch.check.accounts >= len(tariffs) >= 3
    sampled = sample_accounts(bills=batch.bills, lines=batch.lines, kernel_ids=batch.kernel_ids, period=PERIOD)
    assert set(sampled) <= batch.kernel_ids and len(sampled) == batch.check.accounts
    assert sampled == sample_accounts(bills=batch.bills, lines=batch.lines, kernel_ids=batch.kernel_ids,
                                      period=PERIOD)  # the same sample every time

    with acting_as(ACTOR):
        summary = billrun.run_bills(period=PERIOD, as_of=AS_OF, created_at=datetime(2025, 8, 20, 1,
                                                                                              tzinfo=UTC))
    assert summary.reference_checked == batch.check.accounts and summary.as_dict()["reference_checked"] > 0


def test_a_bill_that_differs_from_the_reference_is_refused_naming_the_account_and_both_amounts(city):
    batch = prepared(city)
    account_id = sample_accounts(bills=batch.bills, lines=batch.lines, kernel_ids=batch.kernel_ids,
                                 period=PERIOD)[0]
    number = Account.objects.get(pk=account_id).number
    reference = (batch.bills.filter(pl.col("account_id") == account_id),
                 batch.lines.filter(pl.col("account_id") == account_id))
    amount = reference[0]["amount_fen"][0]
    wrong = batch.bills.with_columns(pl.when(pl.col("account_id") == account_id).then(pl.col("amount_fen") + 1)
                                     .otherwise(pl.col("amount_fen")).alias("amount_fen"))

    check_against_reference(bills=batch.bills, lines=batch.lines, reference=reference, numbers={}, started=0.0)
    with pytest.raises(ReferenceMismatch) as refused:
        check_against_reference(bills=wrong, lines=batch.lines, reference=reference,
                                numbers={account_id: number}, started=0.0)
    assert (refused.value.number, refused.value.kernel, refused.value.reference) == (number, amount + 1, amount)
    assert number in str(refused.value) and str(amount + 1) in str(refused.value) and str(amount) in str(refused.value)

    other_line = batch.lines.with_columns(pl.when(pl.col("account_id") == account_id).then(pl.lit("其他"))
                                          .otherwise(pl.col("description")).alias("description"))
    with pytest.raises(ReferenceMismatch, match="line 1"):
        check_against_reference(bills=batch.bills, lines=other_line, reference=reference, numbers={}, started=0.0)
    assert not Bill.objects.filter(period=PERIOD, account__city=city.city).exists()
