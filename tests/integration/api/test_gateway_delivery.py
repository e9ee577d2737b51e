"""A gateway delivering one callback twice at once books it once (PostgreSQL row locks); the simulator's callback
over real HTTP."""
from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from gridcounter.application.ledger import check_ledger
from gridcounter.data.ledger.models import Payment
from tests.factories import gateway
from tests.factories.commands import gridcounter


def deliver_twice_at_once(raw: bytes) -> list:
    """The same signed callback posted by two threads released together, each on its own connection."""
    barrier, answers = threading.Barrier(2), [None, None]

    def deliver(i):
        try:
            barrier.wait(timeout=10)
            answers[i] = gateway.post(Client(), raw)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SQLite serialises writers on the whole database file; row locks need PostgreSQL")
def test_a_double_delivery_at_once_books_once(small_city, settings):
    gateway.configure(settings, small_city.east)
    for attempt in range(3):
        raw = gateway.body(account=small_city.account.number, amount="12.34", transaction_id=f"DOUBLE-{attempt}")

        answers = deliver_twice_at_once(raw)

        assert sorted(a.status_code for a in answers) == [200, 201], [a.content for a in answers]
        assert answers[0].json()["receipt_number"] == answers[1].json()["receipt_number"]
    assert Payment.objects.filter(channel="ONLINE").count() == 3
    assert check_ledger().ok


@pytest.mark.django_db(transaction=True)
def test_the_simulator_signs_and_posts_a_callback_the_server_books(small_city, settings, live_server):
    gateway.configure(settings, small_city.east)
    args = ("--gateway", gateway.GATEWAY, "--account", small_city.account.number, "--amount", "12.34",
            "--transaction", "SIM-1", "--url", live_server.url, "--secret", gateway.SECRET)

    booked = gridcounter("gateway-callback", *args)
    replayed = gridcounter("gateway-callback", *args)
    forged = gridcounter("gateway-callback", *args[:-1], "a-secret-that-is-not-the-gateways", lang="zh_CN.UTF-8")

    assert booked.returncode == 0, booked.stderr
    assert booked.stdout.startswith("201 SIM-1") and '"channel": "ONLINE"' in booked.stdout
    assert replayed.returncode == 0 and replayed.stdout.startswith("200 SIM-1") and '"replayed": true' in replayed.stdout
    assert forged.returncode == 2 and "SIGNATURE_INVALID" in forged.stdout and "服务器拒绝" in forged.stderr
    assert Payment.objects.filter(channel="ONLINE", idempotency_key="gateway:TESTPAY:SIM-1").count() == 1
