"""`gridcounter reverse_payment`: the counter's reversal rules from the command line."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from gridcounter.application.ledger import take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _payment(two_cities):
    with acting_as(Actor(user=two_cities.clerk, hall=two_cities.binjiang, channel="CLI")):
        return take_payment(account=two_cities.account, amount_fen=5000, channel="CASH", hall=two_cities.binjiang,
                            clerk=two_cities.clerk, idempotency_key="cli-rev", taken_at=timezone.now()).payment


def test_the_clerk_reverses_their_own_payment_of_today_and_another_citys_supervisor_is_refused(two_cities, capsys):
    payment = _payment(two_cities)
    with translation.override("en"), pytest.raises(CommandError, match="OTHER_CITY"):
        call_command("reverse_payment", "--receipt", payment.receipt_number, "--by", "nb.supervisor",
                     "--reason", "x")

    call_command("reverse_payment", "--receipt", payment.receipt_number, "--by", "hz.clerk",
                 "--reason", "wrong amount", "--json")

    out = json.loads(capsys.readouterr().out)
    assert (out["kind"], out["reversed_by"], out["replayed"]) == ("CLERK_SAME_DAY", "hz.clerk", False)
    event = AuditEvent.objects.get(action="PAYMENT_REVERSED", object_id=str(payment.pk))
    assert event.channel == "CLI" and event.reason == "wrong amount"
