"""POST /api/payments/{id}/reversal: the clerk's own reversal of the day, and each refusal by its code."""
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from gridcounter.application.ledger import business_date, close_day, take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.org.models import Role
from tests.factories import org

pytestmark = pytest.mark.django_db


def client_for(user, language="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def reverse(client, payment_id, reason="Wrong amount"):
    return client.post(f"/api/payments/{payment_id}/reversal", data=json.dumps({"reason": reason}),
                       content_type="application/json")


def pay(world, key, *, clerk=None, at=None, tendered=None):
    clerk = clerk or world.clerk
    with acting_as(Actor(user=clerk, hall=clerk.hall, channel="API")):
        return take_payment(account=world.account, amount_fen=5000, channel="CASH", hall=clerk.hall, clerk=clerk,
                            idempotency_key=key, taken_at=at or timezone.now(), at_counter=True,
                            cash_tendered_fen=tendered).payment


def test_the_clerk_reverses_their_own_payment_of_today_and_a_replay_returns_it(two_cities):
    payment = pay(two_cities, "api-own")
    client = client_for(two_cities.clerk)

    first, again = reverse(client, payment.pk), reverse(client, payment.pk)

    assert first.status_code == 201, first.content
    assert (first.json()["kind"], first.json()["reversed_by"]) == ("CLERK_SAME_DAY", "hz.clerk")
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(("case", "status", "code"), [
    ("another clerk's", 403, "NOT_YOURS"),
    ("yesterday's", 403, "NOT_TODAY"),
    ("closed day's", 409, "DAY_CLOSED"),
])
def test_a_clerk_is_refused_with_a_code_that_says_why(two_cities, case, status, code):
    if case == "another clerk's":
        other = org.staff("hz.clerk2", hall=two_cities.binjiang, roles=(Role.Code.CLERK,))
        payment = pay(two_cities, "api-1", clerk=other)
    elif case == "yesterday's":
        payment = pay(two_cities, "api-1", at=timezone.now() - timedelta(days=1))
    else:
        payment = pay(two_cities, "api-1")
        close_day(clerk=two_cities.clerk, hall=two_cities.binjiang, day=business_date(timezone.now()),
                  cash_counted={5000: 1}, non_cash={}, reason="", closed_at=timezone.now())

    response = reverse(client_for(two_cities.clerk), payment.pk)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert payment.receipt_number in response.json()["detail"]
    payment.refresh_from_db()
    assert payment.status == "POSTED"


def test_the_refusal_is_in_the_clerks_language(two_cities):
    other = org.staff("hz.clerk2", hall=two_cities.binjiang, roles=(Role.Code.CLERK,))
    payment = pay(two_cities, "api-zh", clerk=other)
    response = reverse(client_for(two_cities.clerk, "zh-hans"), payment.pk)
    assert response.json()["code"] == "NOT_YOURS" and "其他收费员" in response.json()["detail"]


def test_a_supervisor_needs_a_reason_and_another_citys_supervisor_does_not_find_the_payment(two_cities):
    payment = pay(two_cities, "api-sup", at=timezone.now() - timedelta(days=3))

    no_reason = reverse(client_for(two_cities.supervisor), payment.pk, reason="  ")
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    assert reverse(client_for(two_cities.ningbo_supervisor), payment.pk).status_code == 404
    done = reverse(client_for(two_cities.supervisor), payment.pk, reason="customer's bank recalled it")
    assert done.status_code == 201 and done.json()["kind"] == "SUPERVISOR"


def test_the_cash_tendered_is_kept_and_answered(two_cities):
    client = client_for(two_cities.clerk)
    body = {"account": two_cities.account.number, "amount": "131.84", "channel": "CASH", "cash_tendered": "200.00"}
    paid = client.post("/api/payments", data=json.dumps(body), content_type="application/json",
                       HTTP_IDEMPOTENCY_KEY="api-tender")
    assert paid.status_code == 201, paid.content
    assert (paid.json()["cash_tendered"], paid.json()["change"]) == ("200.00", "68.16")
    too_little = client.post("/api/payments", data=json.dumps({**body, "cash_tendered": "100.00"}),
                             content_type="application/json", HTTP_IDEMPOTENCY_KEY="api-tender-2")
    assert too_little.status_code == 422 and too_little.json()["code"] == "CASH_TENDERED_TOO_LITTLE"
