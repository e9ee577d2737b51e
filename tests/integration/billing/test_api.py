"""The billing API: bills with explanations; the review queue for auditors of the city; decisions."""
from datetime import date

import pytest
from django.test import Client

from gridcounter.application.billrun import run_bills
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill, ReviewDecision
from gridcounter.data.org.models import Role
from tests.factories import org
from tests.factories.cities import CITY_NOW as NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(city):
    clean, m1 = city.account()
    city.monthly(m1, clean, usages=[200, 200], start=date(2025, 1, 15))
    missed, m2 = city.account()
    city.read(m2, missed, date(2025, 1, 15), 500)
    city.read(m2, missed, date(2025, 2, 15), 700)
    run_bills(period="2025-02", as_of=date(2025, 8, 20), created_at=NOW)
    run_bills(period="2025-03", as_of=date(2025, 8, 20), created_at=NOW)
    return clean, Bill.objects.get(account=missed, period="2025-03")


def client_for(user, lang="en"):
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(user)
    return client


def test_bills_come_with_their_explanation_in_the_request_language(held, city):
    clean, _ = held
    clerk = city.staff("clerk", Role.Code.CLERK)
    body = client_for(clerk, "zh-hans").get(f"/api/bills?account={clean.number}&period=2025-03").json()
    bill = body["bills"][0]
    assert bill["amount_yuan"] == "97.66" and bill["status"] == "ISSUED"
    usage = next(r for r in bill["explanation"] if r["code"] == "USAGE_VS_PREVIOUS")
    assert usage["text"] == usage["text_zh"] and "千瓦时" in usage["text"]


def test_review_queue_for_auditors_of_the_city_only(held, city):
    _, bill = held
    response = client_for(city.auditor).get("/api/review?period=2025-03")
    assert response.status_code == 200
    items = response.json()["bills"]
    assert [(i["bill_id"], i["hold_codes"]) for i in items] == [(bill.pk, ["MISSED"])]
    assert "No reading for the fixed reading day" in items[0]["reasons"][0]["text"]

    other_city = org.city(company=city.city.company, code="C2", name="邻市", province="BJ")
    other_hall = org.hall(city=other_city, code="H2", name="邻市营业厅")
    stranger = org.staff("auditor2", hall=other_hall, roles=(Role.Code.AUDITOR,))
    assert client_for(stranger).get("/api/review?period=2025-03").json()["bills"] == []
    refused = client_for(stranger).post(f"/api/review/{bill.pk}/decision", {"decision": "RELEASE", "reason": "x"},
                                        content_type="application/json")
    assert refused.status_code == 404

    clerk = city.staff("clerk2", Role.Code.CLERK)
    assert client_for(clerk).get("/api/review").status_code == 403


def test_a_decision_is_recorded_and_audited(held, city):
    _, bill = held
    client = client_for(city.auditor)
    no_reason = client.post(f"/api/review/{bill.pk}/decision", {"decision": "ESTIMATE", "reason": ""},
                            content_type="application/json")
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    response = client.post(f"/api/review/{bill.pk}/decision",
                           {"decision": "CORRECT_READING", "reason": "read on site", "value": "905"},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "CANCELLED" and body["new_status"] == "ISSUED"
    assert Bill.objects.get(pk=body["new_bill"]).kwh == 205
    decision = ReviewDecision.objects.get(bill=bill)
    assert decision.decided_by == city.auditor and decision.hall == city.hall
    event = AuditEvent.objects.get(action="REVIEW_CORRECT_READING", object_id=str(bill.pk))
    assert event.channel == "API" and event.reason == "read on site"
    again = client.post(f"/api/review/{bill.pk}/decision", {"decision": "RELEASE", "reason": "x"},
                        content_type="application/json")
    assert again.status_code == 409
