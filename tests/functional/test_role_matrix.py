"""Every URL of the counter against every role, over plain HTTP: what each person gets.

200 the page, 302 sent somewhere (sign-in for anonymous visitors; back to the customer after a form), 403 not for
your role, 404 not found (another city's objects look exactly like objects that do not exist), 405 wrong method.
A test at the end checks that the matrix covers every route of web/urls.py, so a new page cannot slip past it.
"""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from gridcounter.application.ledger import take_payment
from gridcounter.application.readings import attach_photo, check_photo
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill
from gridcounter.data.ledger.models import Payment
from gridcounter.data.readings.models import Reading
from gridcounter.interfaces.web import urls as web_urls
from tests.factories import billing, photos, service

pytestmark = pytest.mark.django_db

ROLES = ("clerk", "reader", "auditor", "installer", "account_manager", "supervisor", "admin", "other_clerk",
         "anonymous")
#          clerk reader auditor installer manager supervisor admin other_clerk anonymous
MATRIX = {
    "home":            (200, 200, 200, 200, 200, 200, 200, 200, 302),
    "login":           (302, 302, 302, 302, 302, 302, 302, 302, 200),
    "logout":          (405, 405, 405, 405, 405, 405, 405, 405, 405),  # GET: signing out is a POST
    "search":          (200, 403, 200, 403, 200, 200, 200, 200, 302),
    "account":         (200, 403, 200, 403, 200, 200, 200, 404, 302),
    "take_payment":    (400, 403, 403, 403, 403, 400, 403, 404, 302),  # the admin works at no hall
    "review_queue":    (403, 403, 200, 403, 403, 200, 200, 403, 302),
    "review_bill":     (403, 403, 200, 403, 403, 200, 200, 403, 302),
    "review_decide":   (403, 403, 200, 403, 403, 200, 200, 403, 302),
    "reader_route":    (403, 200, 403, 403, 403, 403, 200, 403, 302),
    "reader_reading":  (403, 400, 403, 403, 403, 403, 400, 403, 302),
    "reader_access_note": (403, 404, 403, 403, 403, 403, 404, 403, 302),  # no such meter installed
    "reader_service_worker": (200, 200, 200, 200, 200, 200, 200, 200, 200),  # code only, no data: anyone
    "enter_reading":   (422, 403, 403, 403, 403, 422, 422, 404, 302),
    "payment_done":    (200, 403, 200, 403, 200, 200, 200, 404, 302),
    "receipt_pdf":     (200, 403, 200, 403, 200, 200, 200, 404, 302),
    "reverse_payment": (400, 403, 403, 403, 403, 400, 400, 404, 302),  # no reason given: asked again
    "bill_pdf":        (200, 403, 200, 403, 200, 200, 200, 404, 302),
    "supervisor_day":  (403, 403, 403, 403, 403, 200, 200, 403, 302),
    "till":            (200, 403, 403, 403, 403, 200, 403, 200, 302),
    "till_close":      (400, 403, 403, 403, 403, 302, 403, 302, 302),  # the clerk is short: no reason given
    "till_hand_over":  (404, 403, 403, 403, 403, 404, 403, 404, 302),  # no such close of theirs
    "till_closes":     (403, 403, 403, 403, 403, 200, 200, 403, 302),
    "till_sign_off":   (403, 403, 403, 403, 403, 404, 404, 403, 302),
    "reading_photo":   (403, 200, 200, 403, 403, 200, 200, 403, 302),  # the reader's photo of the register
    "reading_photo_image": (403, 200, 200, 403, 403, 200, 200, 403, 302),
    "sign_mandate":    (400, 403, 403, 403, 403, 400, 403, 404, 302),  # a bank account too short: refused beside it
    "cancel_mandate":  (302, 403, 403, 403, 403, 302, 403, 404, 302),  # no mandate: back to the customer
    "withholding_batches": (403, 403, 403, 403, 403, 200, 200, 403, 302),
    "withholding_batch": (403, 403, 403, 403, 403, 404, 404, 403, 302),  # no such batch
    "new_service_request": (200, 403, 403, 403, 200, 200, 403, 404, 302),  # the admin works at no hall
    "service_request": (200, 200, 200, 200, 200, 200, 200, 404, 302),
    "service_request_step": (409, 409, 409, 409, 409, 409, 409, 404, 302),  # a step out of turn: refused
    "service_request_document": (400, 400, 400, 400, 400, 400, 400, 404, 302),  # no file chosen
    "service_document": (200, 200, 200, 200, 200, 200, 200, 404, 302),
    "work_orders":     (403, 200, 403, 200, 403, 403, 200, 403, 302),
    "steps_due":       (403, 403, 403, 403, 403, 200, 200, 403, 302),
    "waive_penalty":   (403, 403, 403, 403, 403, 302, 302, 403, 302),  # no such penalty: back to the customer
}
CASES = [(name, role, MATRIX[name][i]) for name in MATRIX for i, role in enumerate(ROLES)]


@pytest.fixture
def objects(small_city, photo_media):
    """A payment of Demo City taken today and a reader's photo of one of its readings; ids of Demo City's objects go
    into every URL."""
    with acting_as(Actor(user=small_city.clerk, hall=small_city.east, channel="WEB")):
        payment = take_payment(account=small_city.account, amount_fen=1000, channel="CASH", hall=small_city.east,
                               clerk=small_city.clerk, idempotency_key="matrix-1", taken_at=timezone.now()).payment
    photo, _created = attach_photo(
        reading=Reading.objects.filter(account=small_city.account).latest("read_at"),
        photo=check_photo(content=photos.png()), now=timezone.now(),
        actor=Actor(user=small_city.reader, hall=small_city.east, channel="WEB"))
    opened = service.residential(clerk=small_city.clerk, now=timezone.now(), origin_account=small_city.account)
    document = service.attach(opened, kind="ID", by=small_city.clerk, now=timezone.now())
    return {"payment": payment, "bill": small_city.latest_bill, "account": small_city.account, "photo": photo,
            "service_request": opened, "document": document,
            "payments": Payment.objects.filter(account=small_city.account).count()}


def request(client: Client, name: str, objs: dict):
    """The request a person would make to this page: a GET for pages, the page's form for POST endpoints."""
    number, bill_id, payment_id = objs["account"].number, objs["bill"].pk, objs["payment"].pk
    get = {
        "home": reverse("home"), "login": reverse("login"), "logout": reverse("logout"),
        "search": reverse("search") + "?q=王", "account": reverse("account", args=[number]),
        "review_queue": reverse("review_queue"), "review_bill": reverse("review_bill", args=[bill_id]),
        "reader_route": reverse("reader_route"), "payment_done": reverse("payment_done", args=[payment_id]),
        "receipt_pdf": reverse("receipt_pdf", args=[payment_id]), "bill_pdf": reverse("bill_pdf", args=[bill_id]),
        "supervisor_day": reverse("supervisor_day"), "till": reverse("till"), "till_closes": reverse("till_closes"),
        "reader_service_worker": reverse("reader_service_worker"),
        "withholding_batches": reverse("withholding_batches"),
        "withholding_batch": reverse("withholding_batch", args=["ICBC20260101999"]),
    }
    if "photo" in objs:
        get["reading_photo"] = reverse("reading_photo", args=[objs["photo"].pk])
        get["reading_photo_image"] = reverse("reading_photo_image", args=[objs["photo"].pk, "thumb"])
    if "service_request" in objs:
        get["service_request"] = reverse("service_request", args=[objs["service_request"].number])
        get["service_document"] = reverse("service_document", args=[objs["document"].pk])
    get["new_service_request"] = reverse("new_service_request", args=[number])
    get["work_orders"], get["steps_due"] = reverse("work_orders"), reverse("steps_due")
    if name in get:
        return client.get(get[name])
    if name == "service_request_step":  # the survey before the application is accepted: refused by its guard
        return client.post(reverse(name, args=[objs["service_request"].number]), {"step": "SURVEY"})
    if name == "service_request_document":  # no file chosen
        return client.post(reverse(name, args=[objs["service_request"].number]), {"kind": "ID"})
    if name == "take_payment":  # no payment method chosen: refused with a message, nothing booked
        return client.post(reverse("take_payment", args=[number]), {"amount": "1.00", "channel": ""})
    if name == "review_decide":  # no reason: refused beside the form
        return client.post(reverse("review_decide", args=[bill_id]), {"decision": "RELEASE", "reason": ""})
    if name == "reader_reading":  # no client key: refused naming the field
        return client.post(reverse("reader_reading"), data=json.dumps({"meter": "x"}),
                           content_type="application/json")
    if name == "reader_access_note":  # a meter nobody installed: nothing written
        return client.post(reverse("reader_access_note"), {"meter": "NO-SUCH-METER", "text": "dog"})
    if name == "enter_reading":  # not a number: refused naming the field
        return client.post(reverse("enter_reading", args=[number]),
                           {"meter": "ZJ2024000456", "register": "TOTAL", "value": "abc",
                            "read_date": timezone.localdate().isoformat()})
    if name == "sign_mandate":
        return client.post(reverse("sign_mandate", args=[number]),
                           {"bank": "ICBC", "holder": "王建国", "bank_account": "62220202"})
    if name == "cancel_mandate":
        return client.post(reverse("cancel_mandate", args=[number]), {"reason": "客户要求"})
    if name == "till_close":  # nothing counted, no reason
        return client.post(reverse("till_close"), {"reason": ""})
    if name == "waive_penalty":  # a penalty this account was never charged: nothing waived
        return client.post(reverse(name, args=[number, 999_999]), {"reason": "hardship"})
    if name in ("till_hand_over", "till_sign_off"):
        return client.post(reverse(name, args=[999_999]), {"slip_number": "X"})
    if name == "reverse_payment":  # no reason: the confirm step again, the reason asked for, nothing reversed
        return client.post(reverse("reverse_payment", args=[payment_id]), {"reason": ""})
    raise AssertionError(f"no request for {name}")


@pytest.mark.parametrize("name, role, expected", CASES, ids=[f"{n}-{r}" for n, r, _e in CASES])
def test_role_page_matrix(client, small_city, objects, name, role, expected):
    if role != "anonymous":
        client.force_login(getattr(small_city, role))

    response = request(client, name, objects)

    assert response.status_code == expected
    if expected == 302 and role == "anonymous" and name not in ("logout",):
        assert response["Location"].startswith(reverse("login"))
    # nothing changed money or readings, whoever asked
    assert Payment.objects.filter(account=small_city.account).count() == objects["payments"]
    assert Payment.objects.get(pk=objects["payment"].pk).status == Payment.Status.POSTED
    assert Bill.objects.get(pk=objects["bill"].pk).status == Bill.Status.ISSUED


def test_the_matrix_covers_every_url_of_the_counter():
    names = {p.name for p in web_urls.urlpatterns if isinstance(p, URLPattern)}

    assert names == set(MATRIX)


@pytest.fixture
def other_city_objects(small_city):
    """Another city's bill and payment, and the ids a Demo City clerk might type into the address bar."""
    stranger = small_city.stranger
    latest = small_city.latest_bill
    bill = billing.bill(account=stranger, period=latest.period, amount_fen=4883, kwh=100, start=latest.start_date,
                        end=latest.end_date, issued=latest.issued_date, due=latest.due_date, created_at=timezone.now())
    with acting_as(Actor(user=small_city.other_clerk, hall=small_city.other_hall, channel="WEB")):
        payment = take_payment(account=stranger, amount_fen=4883, channel="CASH", hall=small_city.other_hall,
                               clerk=small_city.other_clerk, idempotency_key="other-1",
                               taken_at=timezone.now()).payment
    return {"payment": payment, "bill": bill, "account": stranger}


@pytest.mark.parametrize("role", ["clerk", "auditor", "account_manager", "supervisor"])
@pytest.mark.parametrize("name", ["account", "payment_done", "receipt_pdf", "bill_pdf", "review_bill",
                                  "take_payment", "enter_reading", "reverse_payment"])
def test_another_citys_objects_are_not_found(client, small_city, other_city_objects, role, name):
    user = getattr(small_city, role)
    client.force_login(user)

    response = request(client, name, other_city_objects)

    # 403 when the page is not for the role anyway; never 200 and never a hint that the object exists
    assert response.status_code in (403, 404)
    if response.status_code == 404:
        assert other_city_objects["account"].customer.name not in response.content.decode()
        assert AuditEvent.objects.filter(action="ACCESS_DENIED", user=user,
                                         detail__rule="OTHER_CITY").exists()
    assert Payment.objects.get(pk=other_city_objects["payment"].pk).status == Payment.Status.POSTED
    assert Payment.objects.filter(account=other_city_objects["account"]).count() == 1


@pytest.mark.parametrize("name", ["account", "payment_done", "receipt_pdf", "bill_pdf"])
def test_a_clerk_gets_404_for_each_kind_of_object_of_another_city(client, small_city, other_city_objects, name):
    client.force_login(small_city.clerk)

    assert request(client, name, other_city_objects).status_code == 404
