"""An online payment gateway's signed callback: booked once as an ONLINE payment, forgeries refused and logged."""
from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.utils import timezone

from gridcounter.application.ledger import account_arrears, balance_fen, check_ledger, day_summary
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import Payment
from gridcounter.domain.gateway_signature import sign
from gridcounter.domain.ledger import format_fen
from tests.factories import gateway

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(small_city, settings):
    gateway.configure(settings, small_city.east, small_city.other_hall)
    return small_city


def refusals():
    return list(AuditEvent.objects.filter(action="GATEWAY_CALLBACK_REFUSED").order_by("id"))


def owed(city) -> str:
    """What the customer pays to owe nothing today: the balance and the late-payment penalty it will charge."""
    return format_fen(account_arrears(account=city.account, as_of=timezone.localdate()).total_due_fen)


def test_a_signed_callback_books_one_online_payment_that_settles_the_oldest_bill(city, client):
    latest = city.latest_bill
    owed_before = owed(city)
    raw = gateway.body(account=city.account.number, amount=owed_before, transaction_id="PAY-0001",
                       paid_at="2026-01-02T23:59:00+08:00")

    response = gateway.post(client, raw)

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["channel"] == "ONLINE" and answer["replayed"] is False
    assert answer["receipt_number"].startswith("DEMO-E-")
    assert answer["amount"] == owed_before
    # the bill, then the late-payment penalty its late payment charged (it was due on the 25th of last month)
    assert [(a["bill_id"], a["kind"]) for a in answer["allocations"]] == [(latest.pk, "BILL"), (latest.pk, "PENALTY")]
    assert answer["balance"] == "0.00"
    payment = Payment.objects.get(receipt_number=answer["receipt_number"])
    assert payment.channel == Payment.Channel.ONLINE and payment.hall == city.east and payment.clerk is None
    assert payment.idempotency_key == "gateway:TESTPAY:PAY-0001"
    assert payment.taken_date == timezone.localdate()  # booked the day it arrives; the gateway's time is kept
    received = AuditEvent.objects.get(action="GATEWAY_PAYMENT_RECEIVED", object_id=str(payment.pk))
    assert received.detail["transaction_id"] == "PAY-0001" and received.detail["paid_at"] == "2026-01-02T23:59:00+08:00"
    assert received.ip_address == "203.0.113.7" and received.hall_id == city.east.pk
    taken = AuditEvent.objects.get(action="PAYMENT_TAKEN", object_id=str(payment.pk))
    assert taken.channel == "GATEWAY" and taken.username == "gateway:TESTPAY"
    assert check_ledger().ok


def test_the_same_callback_again_answers_the_first_payment_and_books_nothing(city, client):
    raw = gateway.body(account=city.account.number, amount="10.00", transaction_id="PAY-0002")
    first = gateway.post(client, raw)
    before = balance_fen(city.account)

    again = gateway.post(client, raw)  # re-signed, later: the gateway retries
    resent = gateway.post(client, gateway.body(account=city.account.number, amount="10.00",
                                               transaction_id="PAY-0002", paid_at="2026-01-01T10:00:00+08:00"))

    assert first.status_code == 201
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["receipt_number"] == first.json()["receipt_number"]
    assert resent.status_code == 200 and resent.json()["receipt_number"] == first.json()["receipt_number"]
    assert Payment.objects.filter(idempotency_key="gateway:TESTPAY:PAY-0002").count() == 1
    assert balance_fen(city.account) == before


@pytest.mark.parametrize("language, words", [("en", "already booked"), ("zh-hans", "已")])
def test_the_same_transaction_with_another_amount_or_account_is_a_conflict_not_a_replay(city, client, language,
                                                                                         words):
    gateway.post(client, gateway.body(account=city.account.number, amount="10.00", transaction_id="PAY-0003"))

    other_amount = gateway.post(client, gateway.body(account=city.account.number, amount="10.01",
                                                     transaction_id="PAY-0003"), language=language)
    other_account = gateway.post(client, gateway.body(account=city.neighbour.number, amount="10.00",
                                                      transaction_id="PAY-0003"), language=language)

    for response in (other_amount, other_account):
        assert response.status_code == 409
        assert response.json()["code"] == "TRANSACTION_CONFLICT" and response.json()["field"] == "transaction_id"
        assert words in response.json()["detail"] and "PAY-0003" in response.json()["detail"]
    assert Payment.objects.filter(channel="ONLINE").count() == 1
    assert [e.detail["code"] for e in refusals()] == ["TRANSACTION_CONFLICT", "TRANSACTION_CONFLICT"]


def _forgeries(city):
    raw = gateway.body(account=city.account.number, amount="10.00", transaction_id="PAY-FORGED")
    now = int(time.time())
    good = sign(secret=gateway.SECRET, timestamp=str(now), body=raw)
    altered = raw.replace(b'"10.00"', b'"99.00"')
    return {
        "unsigned": (raw, {}, "SIGNATURE_INVALID"),
        "timestamp only": (raw, {"X-Gateway-Timestamp": str(now)}, "SIGNATURE_INVALID"),
        "wrong secret": (raw, {"X-Gateway-Timestamp": str(now), "X-Gateway-Signature": sign(
            secret="another-secret-of-someone-else", timestamp=str(now), body=raw)}, "SIGNATURE_INVALID"),
        "altered body": (altered, {"X-Gateway-Timestamp": str(now), "X-Gateway-Signature": good},
                         "SIGNATURE_INVALID"),
        "altered timestamp": (raw, {"X-Gateway-Timestamp": str(now - 1), "X-Gateway-Signature": good},
                              "SIGNATURE_INVALID"),
        "not hex": (raw, {"X-Gateway-Timestamp": str(now), "X-Gateway-Signature": "签名" * 32}, "SIGNATURE_INVALID"),
        "stale": (raw, None, "STALE_CALLBACK"),
        "future": (raw, None, "STALE_CALLBACK"),
    }


@pytest.mark.parametrize("kind", ["unsigned", "timestamp only", "wrong secret", "altered body", "altered timestamp",
                                  "not hex", "stale", "future"])
def test_forged_altered_and_stale_callbacks_are_refused_with_their_code_and_logged(city, client, kind):
    raw, headers, code = _forgeries(city)[kind]
    shift = {"stale": -330, "future": 330}.get(kind)  # outside the 300-second window, however slow the server

    response = (gateway.post(client, raw, timestamp=int(time.time()) + shift) if shift
                else gateway.post(client, raw, headers=headers))

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert not Payment.objects.filter(channel="ONLINE").exists()
    [event] = refusals()
    assert event.detail["gateway"] == "TESTPAY" and event.detail["code"] == code
    assert event.ip_address == "203.0.113.7" and event.channel == "GATEWAY"
    logged = json.dumps(event.detail) + event.reason
    assert gateway.SECRET not in logged and city.account.number not in logged  # not the secret, not the body


def test_the_window_is_the_gateways_own(city, client, settings):
    gateway.configure(settings, city.east, window=30)
    raw = gateway.body(account=city.account.number, amount="1.00")

    assert gateway.post(client, raw, timestamp=int(time.time()) - 60).json()["code"] == "STALE_CALLBACK"
    assert gateway.post(client, raw, timestamp=int(time.time()) - 20).status_code == 201


@pytest.mark.parametrize("language, words", [("en", "not signed"), ("zh-hans", "签名")])
def test_refusals_speak_the_callers_language(city, client, language, words):
    response = gateway.post(client, gateway.body(account=city.account.number, amount="1.00"), headers={},
                            language=language)

    assert words in response.json()["detail"]


@pytest.mark.parametrize("language, words", [("en", "No payment gateway"), ("zh-hans", "支付")])
def test_an_unknown_gateway_is_404_and_logged(city, client, language, words):
    raw = gateway.body(account=city.account.number, amount="1.00")

    response = gateway.post(client, raw, gateway="NOPAY", language=language)

    assert response.status_code == 404 and response.json()["code"] == "GATEWAY_UNKNOWN"
    assert words in response.json()["detail"]
    assert [(e.detail["gateway"], e.detail["code"]) for e in refusals()] == [("NOPAY", "GATEWAY_UNKNOWN")]


def test_an_account_outside_the_gateways_cities_is_not_found(city, client, settings):
    gateway.configure(settings, city.east)  # Demo City only
    unknown = gateway.post(client, gateway.body(account="0000000000", amount="1.00"))
    elsewhere = gateway.post(client, gateway.body(account=city.stranger.number, amount="1.00"))

    for response in (unknown, elsewhere):
        assert response.status_code == 404
        assert response.json()["code"] == "ACCOUNT_NOT_FOUND" and response.json()["field"] == "account"
    assert unknown.json()["detail"].replace("0000000000", "") == elsewhere.json()["detail"].replace(
        city.stranger.number, "")
    assert [e.detail["code"] for e in refusals()] == ["ACCOUNT_NOT_FOUND", "ACCOUNT_NOT_FOUND"]


def test_a_gateway_serving_two_cities_books_at_each_citys_hall(city, client):
    response = gateway.post(client, gateway.body(account=city.stranger.number, amount="5.00"))

    assert response.status_code == 201 and response.json()["hall"] == "OTHER-1"


def test_a_signed_body_that_is_not_the_document_is_422_and_logged(city, client):
    response = gateway.post(client, json.dumps({"transaction_id": "T1", "account": city.account.number,
                                                "amount": 10, "paid_at": "2026-12-03T10:00:00+08:00"}).encode())
    not_json = gateway.post(client, b"{not json")

    assert response.status_code == 422 and response.json()["field"] == "amount"
    assert not_json.status_code == 422 and not_json.json()["code"] == "INVALID_JSON"
    assert [e.detail["code"] for e in refusals()] == ["INVALID_REQUEST", "INVALID_REQUEST"]


def test_a_staff_session_grants_nothing(city):
    client = Client()
    client.force_login(city.supervisor)

    response = client.post("/api/gateways/TESTPAY/callbacks", data=gateway.body(account=city.account.number,
                                                                                 amount="1.00"),
                           content_type="application/json")

    assert response.status_code == 401 and response.json()["code"] == "SIGNATURE_INVALID"


def test_the_payments_api_still_refuses_online_at_the_counter(city):
    client = Client(enforce_csrf_checks=False)
    client.force_login(city.clerk)

    response = client.post("/api/payments", data={"account": city.account.number, "amount": "1.00",
                                                  "channel": "ONLINE", "idempotency_key": "k-online"},
                           content_type="application/json")

    assert response.status_code == 422 and response.json()["code"] == "CHANNEL_NOT_AT_COUNTER"


def test_the_day_view_counts_an_online_payment_as_non_cash(city, client):
    client_ = Client(HTTP_ACCEPT_LANGUAGE="en")
    client_.force_login(city.supervisor)
    gateway.post(client, gateway.body(account=city.account.number, amount="30.00"))
    today = timezone.localdate()

    summary = day_summary(halls=[city.east], day=today)
    page = client_.get("/supervisor/day/", {"date": today.isoformat()})

    assert summary.total.non_cash_fen == 3000 and summary.total.by_channel["ONLINE"] == 3000
    assert summary.total.non_cash_share == 100
    assert page.status_code == 200
    shown = page.content.decode()
    assert "100.0%" in shown and "Online" in shown  # the non-cash share, and the channel's row
