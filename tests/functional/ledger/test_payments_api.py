"""The payments API as a counter client uses it: session login, JSON in, JSON out."""
import json
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from gridcounter.application.ledger import post_bill
from gridcounter.data.ledger.models import Payment
from tests.factories import billing
from tests.factories.billing import AT

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(two_cities):
    """The two cities with Hangzhou's account owing one posted bill of 123.45 yuan (2026-02), not yet due on the day
    the API books payments (today): no late-payment penalty (tests/integration/ledger/test_penalties.py)."""
    two_cities.bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=12345,
                                   due=timezone.localdate() + timedelta(days=20))
    post_bill(bill=two_cities.bill, created_at=AT)
    return two_cities


@pytest.fixture
def overdue(two_cities):
    """Hangzhou's account owing one posted bill of 123.45 yuan (2026-02), due 2026-03-20: overdue today."""
    two_cities.bill = billing.bill(account=two_cities.account, period="2026-02", amount_fen=12345)
    post_bill(bill=two_cities.bill, created_at=AT)
    return two_cities


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def post(client, url, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def test_pay_then_retry_with_the_same_header_key(world):
    client = client_for(world.clerk)
    body = {"account": world.account.number, "amount": "100.00", "channel": "CASH"}

    first = post(client, "/api/payments", body, HTTP_IDEMPOTENCY_KEY="till-7-0001")
    again = post(client, "/api/payments", body, HTTP_IDEMPOTENCY_KEY="till-7-0001")

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["receipt_number"] == first.json()["receipt_number"]
    assert first.json()["balance"] == "23.45"
    assert first.json()["allocations"][0]["period"] == "2026-02"
    assert first.json()["receipt_number"].startswith("HZ02-")


def test_same_key_different_amount_is_409(world):
    client = client_for(world.clerk)
    post(client, "/api/payments", {"account": world.account.number, "amount": "100.00", "idempotency_key": "k-1"})

    response = post(client, "/api/payments",
                    {"account": world.account.number, "amount": "100.01", "idempotency_key": "k-1"})

    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(("amount", "why"), [("12.345", "more than two decimals"), ("0", "greater than zero"),
                                              ("-5.00", "greater than zero"), ("abc", "number of yuan"),
                                              (12.5, "not as a JSON number"), (True, "not as a JSON number"),
                                              (100, "not as a JSON number"), ("1_000", "number of yuan"),
                                              ("1e3", "number of yuan"), (" 10", "number of yuan"),
                                              ("１２．３４５", "more than two decimals")])
def test_bad_amounts_are_refused_naming_the_field(world, amount, why):
    response = post(client_for(world.clerk), "/api/payments",
                    {"account": world.account.number, "amount": amount, "idempotency_key": "k-1"})

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_AMOUNT"
    assert response.json()["field"] == "amount"
    assert why in response.json()["detail"]
    assert not Payment.objects.filter(account=world.account).exists()


def test_full_width_digits_are_yuan_as_typed(world):
    response = post(client_for(world.clerk), "/api/payments",
                    {"account": world.account.number, "amount": "１２３．４５", "idempotency_key": "k-1"})

    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "123.45" and response.json()["balance"] == "0.00"


def test_another_citys_account_is_answered_as_an_unknown_one(world):
    body = {"amount": "10.00", "idempotency_key": "k-1"}
    other = post(client_for(world.ningbo_clerk), "/api/payments", {**body, "account": world.account.number})
    unknown = post(client_for(world.ningbo_clerk), "/api/payments", {**body, "account": "3399999999"})

    assert other.status_code == unknown.status_code == 404
    assert other.json() == {"code": "ACCOUNT_NOT_FOUND", "detail": f"No account {world.account.number}.",
                            "field": "account"}
    assert unknown.json() == {**other.json(), "detail": "No account 3399999999."}
    assert "Hangzhou" not in other.content.decode()
    assert not Payment.objects.filter(account=world.account).exists()


def test_a_meter_reader_may_not_take_payments(world):
    response = post(client_for(world.reader), "/api/payments",
                    {"account": world.account.number, "amount": "10.00", "idempotency_key": "k-1"})
    assert response.status_code == 403


def test_signed_out_is_401(world):
    response = post(Client(), "/api/payments", {"account": world.account.number, "amount": "10.00"})
    english = post(Client(HTTP_ACCEPT_LANGUAGE="en"), "/api/payments", {"account": world.account.number})
    assert response.status_code == english.status_code == 401
    assert response.json() == {"code": "NOT_SIGNED_IN", "detail": "请先登录。", "field": ""}
    assert english.json()["detail"] == "Sign in first."


def test_ledger_shows_entries_balance_and_open_bills(overdue):
    world = overdue
    post(client_for(world.clerk), "/api/payments",
         {"account": world.account.number, "amount": "100.00", "idempotency_key": "k-1"})

    response = client_for(world.clerk).get(f"/api/accounts/{world.account.number}/ledger")

    assert response.status_code == 200
    data = response.json()
    assert data["balance"] == "23.45"
    days = (date.fromisoformat(data["as_of"]) - world.bill.due_date).days
    assert data["open_bills"] == [{"bill_id": world.bill.pk, "period": "2026-02", "amount": "123.45",
                                   "outstanding": "23.45", "outstanding_fen": 2345,
                                   "due_date": world.bill.due_date.isoformat(), "days_overdue": days}]
    assert data["total_due_fen"] == 2345 + data["penalty_fen"] and data["penalty_fen"] > 0
    assert [e["kind"] for e in data["entries"]] == ["BILL", "PAYMENT"]
    assert all(sum(p["amount_fen"] for p in e["postings"]) == 0 for e in data["entries"])


def test_another_citys_ledger_is_not_found(world):
    response = client_for(world.ningbo_clerk).get(f"/api/accounts/{world.account.number}/ledger")
    unknown = client_for(world.ningbo_clerk).get("/api/accounts/3399999999/ledger")
    assert response.status_code == unknown.status_code == 404
    assert response.json() == {**unknown.json(), "detail": f"No account {world.account.number}."}


def test_supervisor_reverses_with_a_reason_and_receipt_shows_it(world):
    paid = post(client_for(world.clerk), "/api/payments",
                {"account": world.account.number, "amount": "123.45", "idempotency_key": "k-1"}).json()
    supervisor = client_for(world.supervisor)

    no_reason = post(supervisor, f"/api/payments/{paid['id']}/reversal", {"reason": " "})
    reversed_ = post(supervisor, f"/api/payments/{paid['id']}/reversal", {"reason": "paid to the wrong account"})
    receipt = supervisor.get(f"/api/payments/{paid['id']}/receipt")

    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    assert reversed_.status_code == 201, reversed_.content
    assert reversed_.json()["balance"] == "123.45"
    assert receipt.json()["status"] == "REVERSED"
    assert receipt.json()["reversal_reason"] == "paid to the wrong account"
    assert receipt.json()["amount"] == "123.45"
    assert receipt.json()["allocations"][0]["released"] is True


def test_a_reader_may_not_reverse(world):
    paid = post(client_for(world.clerk), "/api/payments",
                {"account": world.account.number, "amount": "10.00", "idempotency_key": "k-1"}).json()

    response = post(client_for(world.reader), f"/api/payments/{paid['id']}/reversal", {"reason": "oops"})

    assert response.status_code == 403
    assert response.json()["code"] == "SUPERVISOR_REQUIRED"


def test_receipt_data(world):
    paid = post(client_for(world.clerk), "/api/payments",
                {"account": world.account.number, "amount": "50.00", "idempotency_key": "k-1"}).json()

    receipt = client_for(world.clerk).get(f"/api/payments/{paid['id']}/receipt").json()

    assert receipt["receipt_number"] == paid["receipt_number"]
    assert receipt["hall_name"] == "Binjiang hall"
    assert receipt["customer"] == world.account.customer.name
    assert receipt["allocations"] == [{"bill_id": world.bill.pk, "kind": "BILL", "period": "2026-02", "amount": "50.00",
                                       "amount_fen": 5000, "released": False}]
