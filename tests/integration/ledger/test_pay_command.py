"""`gridcounter pay`: a payment from the command line, retried safely with --key."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from gridcounter.application.ledger import balance_fen, post_bill
from tests.factories import billing
from tests.factories.billing import AT

pytestmark = pytest.mark.django_db


def run_pay(capsys, two_cities, *extra):
    call_command("pay", "--account", two_cities.account.number, "--hall", "HZ02", "--clerk", two_cities.clerk.username,
                 "--json", *extra)
    return json.loads(capsys.readouterr().out)


def test_pay_books_once_per_key(two_cities, capsys):
    post_bill(bill=billing.bill(account=two_cities.account, period="2026-02", amount_fen=5000), created_at=AT)

    first = run_pay(capsys, two_cities, "--amount", "30.00", "--key", "cli-1")
    again = run_pay(capsys, two_cities, "--amount", "30.00", "--key", "cli-1")

    assert first["receipt_number"] == again["receipt_number"]
    assert again["replayed"] is True
    assert first["balance"] == "20.00"
    assert balance_fen(two_cities.account) == 2000


def test_pay_refuses_three_decimals_naming_the_option(two_cities):
    with pytest.raises(CommandError, match="--amount"):
        call_command("pay", "--account", two_cities.account.number, "--hall", "HZ02", "--clerk", two_cities.clerk.username,
                     "--amount", "1.005")


def test_pay_refuses_a_hall_of_another_city(two_cities):
    with translation.override("en"), pytest.raises(CommandError, match="cannot take payments"):
        call_command("pay", "--account", two_cities.account.number, "--hall", "NB01", "--clerk",
                     two_cities.ningbo_clerk.username, "--amount", "1.00")
