"""Another city's account, meter, payment or bill is answered exactly as an unknown one, by every operation that
names one: same status, same code and field, the same detail but for the name the caller gave; no city named."""
import json

import pytest
from django.test import Client

from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Role
from tests.factories import org

pytestmark = pytest.mark.django_db

UNKNOWN = {"account": "1199999999", "meter": "ZJ1999999999", "payment": 987654321, "bill": 987654321}


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def requests(world) -> dict:
    """Per operation: (the caller of Other City, a request naming Demo City's object given its names)."""
    other_auditor = org.staff("auditor.other", hall=world.other_hall, roles=(Role.Code.AUDITOR,))
    return {
        "account": (world.other_clerk, lambda n: ("get", f"/api/accounts/{n['account']}", None)),
        "ledger": (world.other_clerk, lambda n: ("get", f"/api/accounts/{n['account']}/ledger", None)),
        "bills": (world.other_clerk, lambda n: ("get", f"/api/bills?account={n['account']}", None)),
        "readings of an account": (world.other_clerk, lambda n: ("get", f"/api/readings?account={n['account']}", None)),
        "readings of a meter": (world.other_clerk, lambda n: ("get", f"/api/readings?meter={n['meter']}", None)),
        "receipt": (world.other_clerk, lambda n: ("get", f"/api/payments/{n['payment']}/receipt", None)),
        "reversal": (world.other_supervisor, lambda n: ("post", f"/api/payments/{n['payment']}/reversal",
                                                        {"reason": "wrong account"})),
        "decision": (other_auditor, lambda n: ("post", f"/api/review/{n['bill']}/decision",
                                               {"decision": "RELEASE", "reason": "checked"})),
        "payment": (world.other_clerk, lambda n: ("post", "/api/payments", {"account": n["account"], "amount": "1.00",
                                                                            "idempotency_key": "k-other"})),
        "reading": (world.other_clerk, lambda n: ("post", "/api/readings", {
            "meter": n["meter"], "read_at": "2026-11-15T10:00", "value": "5000", "source": "CUSTOMER"})),
    }


def send(client, method, url, body):
    if method == "get":
        return client.get(url)
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("operation", ["account", "ledger", "bills", "readings of an account", "readings of a meter",
                                       "receipt", "reversal", "decision", "payment", "reading"])
def test_another_citys_object_is_answered_as_an_unknown_one(small_city, operation):
    payment = Payment.objects.filter(account=small_city.account).first()
    real = {"account": small_city.account.number, "meter": small_city.new_meter.asset_number, "payment": payment.pk,
            "bill": small_city.latest_bill.pk}
    caller, request = requests(small_city)[operation]
    client = client_for(caller)

    hidden = send(client, *request(real))
    unknown = send(client, *request(UNKNOWN))

    assert hidden.status_code == unknown.status_code == 404
    body = hidden.content.decode()
    for name in ("account", "meter"):  # the names a detail may quote back
        body = body.replace(real[name], UNKNOWN[name])
    assert json.loads(body) == unknown.json()
    assert set(unknown.json()) == {"code", "detail", "field"}
    assert "示范市" not in hidden.content.decode() and "Demo" not in hidden.content.decode()
