"""`gridcounter pay`: a payment from the command line, retried safely with --key."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from gridcounter.application.ledger import balance_fen, post_bill
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Role
from tests.factories import billing, org
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
                     two_cities.clerk.username, "--amount", "1.00")


@pytest.mark.parametrize(("who", "why"), [
    ("reader", "hz.reader is not a clerk: only a clerk or a supervisor takes payments"),
    ("auditor", "hz.auditor is not a clerk: only a clerk or a supervisor takes payments"),
    ("ningbo_clerk", "nb.clerk is not a clerk of city Hangzhou, the city of account {number}"),
    ("hallless", "hallless is not a clerk of city Hangzhou, the city of account {number}"),
    ("retired", "no active user hz.retired"),
])
def test_pay_takes_only_an_active_clerk_of_the_accounts_city(two_cities, who, why):
    two_cities.auditor = org.staff("hz.auditor", hall=two_cities.binjiang, roles=(Role.Code.AUDITOR,))
    two_cities.retired = org.staff("hz.retired", hall=two_cities.binjiang, roles=(Role.Code.CLERK,), is_active=False)

    with translation.override("en"), pytest.raises(CommandError) as refused:
        call_command("pay", "--account", two_cities.account.number, "--hall", "HZ02", "--clerk",
                     getattr(two_cities, who).username, "--amount", "1.00")

    assert str(refused.value) == why.format(number=two_cities.account.number)
    assert refused.value.returncode == 2
    assert not Payment.objects.filter(account=two_cities.account).exists()


def test_pay_takes_a_supervisor_of_the_city(two_cities, capsys):
    call_command("pay", "--account", two_cities.account.number, "--hall", "HZ01", "--clerk",
                 two_cities.supervisor.username, "--amount", "1.00", "--json")

    assert json.loads(capsys.readouterr().out)["clerk"] == "hz.supervisor"
