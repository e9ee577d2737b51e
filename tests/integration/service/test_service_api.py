"""The service-request API: the applicant's look-up without sign-in, staff opening a request, keeping its
documents and completing its steps, every refusal the one error body with its code."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.service.models import ServiceRequest
from tests.factories import service

pytestmark = pytest.mark.django_db

APPLICATION = {"request_type": "NEW_CONNECTION_RESIDENTIAL", "applicant_name": "张新户", "id_type": "RESIDENT_ID",
               "id_number": service.APPLICANT_ID, "address": "示范市东城区新苑小区8号楼2单元301",
               "phone": "13600136000", "idempotency_key": "api-open-1"}


def client_for(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None:
        client.force_login(user)
    return client


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def opened(small_city, photo_media):
    response = post(client_for(small_city.clerk), "/api/service-requests", APPLICATION)
    assert response.status_code == 201, response.content
    return ServiceRequest.objects.get(number=response.json()["number"])


def test_the_clerk_opens_a_request_once_however_often_the_call_is_retried(small_city, opened):
    again = post(client_for(small_city.clerk), "/api/service-requests", APPLICATION)

    assert again.status_code == 200 and again.json()["number"] == opened.number and not again.json()["created"]
    body = again.json()
    assert (body["current_step"], body["blocked_by"]) == ("APPLICATION", "DOCUMENTS_MISSING")
    assert body["steps"][0]["documents_needed"] == ["valid ID", "proof of the address or signed promise (one "
                                                                "document plus a promise)"]


def test_the_applicant_looks_the_request_up_by_number_and_id_number_without_signing_in(small_city, opened):
    anonymous = client_for(None)

    found = anonymous.get(f"/api/service-requests/{opened.number}", {"id_number": service.APPLICANT_ID})
    wrong_id = anonymous.get(f"/api/service-requests/{opened.number}", {"id_number": "110101198001010053"})
    unknown = anonymous.get("/api/service-requests/DEMO-20991231-0001", {"id_number": service.APPLICANT_ID})

    assert found.status_code == 200
    assert (found.json()["state"], found.json()["current_step"], found.json()["opened_hall"]) == (
        "OPEN", "APPLICATION", "城东营业厅")
    assert "completed_by" not in found.json()["steps"][0] and "applicant_name" not in found.json()
    assert wrong_id.status_code == unknown.status_code == 404
    assert (wrong_id.json() | {"detail": ""}) == (unknown.json() | {"detail": ""})
    assert wrong_id.json()["detail"].replace(opened.number, "X") == unknown.json()["detail"].replace(
        "DEMO-20991231-0001", "X")


def test_a_step_through_the_api_is_guarded_and_audited(small_city, opened):
    installer = client_for(small_city.installer)

    early = post(installer, f"/api/service-requests/{opened.number}/steps/ENERGISE", {})
    wrong_role = post(client_for(small_city.reader), f"/api/service-requests/{opened.number}/steps/APPLICATION", {})
    no_documents = post(client_for(small_city.clerk), f"/api/service-requests/{opened.number}/steps/APPLICATION", {})

    assert (early.status_code, early.json()["code"]) == (409, "INSTALLATION_NOT_COMPLETE")
    assert early.json()["detail"] == "the meter installation is not complete yet; “Energised” must wait for it"
    assert (wrong_role.status_code, wrong_role.json()["code"]) == (403, "WRONG_ROLE")
    assert (no_documents.status_code, no_documents.json()["code"]) == (409, "DOCUMENTS_MISSING")

    clerk = client_for(small_city.clerk, "zh-hans")
    for kind, content, name in (("ID", service.pdf(), "id.pdf"), ("PROMISE", service.pdf("promise"), "p.pdf")):
        from django.core.files.uploadedfile import SimpleUploadedFile

        kept = clerk.post(f"/api/service-requests/{opened.number}/documents",
                          {"kind": kind, "file": SimpleUploadedFile(name, content, "application/pdf")})
        assert kept.status_code == 201, kept.content
    done = post(clerk, f"/api/service-requests/{opened.number}/steps/APPLICATION", {"note": "材料齐全"})
    retried = post(clerk, f"/api/service-requests/{opened.number}/steps/APPLICATION", {"note": "材料齐全"})

    assert done.status_code == 201 and retried.status_code == 200
    assert done.json()["current_step"] == "SURVEY" and done.json()["steps"][0]["completed_by"] == "李柜员"
    event = AuditEvent.objects.get(action="SERVICE_STEP_COMPLETED", object_id=str(opened.pk))
    assert (event.username, event.channel, event.reason, event.hall_id) == (
        "clerk.east", "API", "材料齐全", small_city.east.pk)


def test_a_document_the_api_does_not_keep_is_refused_by_its_bytes(small_city, opened):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(small_city.clerk).post(
        f"/api/service-requests/{opened.number}/documents",
        {"kind": "ID", "file": SimpleUploadedFile("id.pdf", b"MZ\x90\x00 a program", "application/pdf")})

    assert (response.status_code, response.json()["code"], response.json()["field"]) == (
        409, "DOCUMENT_REFUSED", "document")


def test_another_citys_request_is_answered_as_an_unknown_one(small_city, opened):
    other = client_for(small_city.other_clerk)

    hidden = post(other, f"/api/service-requests/{opened.number}/steps/APPLICATION", {})
    unknown = post(other, "/api/service-requests/DEMO-20991231-0001/steps/APPLICATION", {})

    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["code"] == unknown.json()["code"] == "REQUEST_NOT_FOUND"


def test_the_document_names_every_answer_of_the_service_operations(client):
    document = client.get("/api/openapi.json").json()

    lookup = document["paths"]["/api/service-requests/{number}"]["get"]
    step = document["paths"]["/api/service-requests/{number}/steps/{step}"]["post"]
    assert set(lookup["responses"]) == {"200", "404", "422"} and "security" not in lookup
    assert set(step["responses"]) == {"200", "201", "401", "403", "404", "409", "422"}


def test_a_high_voltage_connection_through_the_api_from_application_to_first_reading(small_city, photo_media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    clerk, manager = client_for(small_city.clerk), client_for(small_city.account_manager)
    installer, reader = client_for(small_city.installer), client_for(small_city.reader)
    opened = post(manager, "/api/service-requests", {
        "request_type": "NEW_CONNECTION_HIGH_VOLTAGE", "applicant_name": "示范机械厂", "id_type": "USCC",
        "id_number": "91110000600037341L", "address": "示范市经济开发区创业路18号", "capacity_kva": "630"})
    assert opened.status_code == 201, opened.content
    number = opened.json()["number"]

    def keep(client, kind):
        response = client.post(f"/api/service-requests/{number}/documents", {
            "kind": kind, "file": SimpleUploadedFile(f"{kind}.pdf", service.pdf(kind), "application/pdf")})
        assert response.status_code == 201, response.content

    def step(client, code, **body):
        response = post(client, f"/api/service-requests/{number}/steps/{code}", body)
        assert response.status_code == 201, response.content
        return response.json()

    keep(manager, "ID")
    keep(manager, "ADDRESS_PROOF")
    step(clerk, "APPLICATION")
    step(installer, "SURVEY")
    step(manager, "SUPPLY_PLAN", note="单电源 10 kV 专线")
    keep(manager, "DESIGN")
    step(manager, "DESIGN_REVIEW")
    step(installer, "INTERIM_INSPECTION")
    early = post(installer, f"/api/service-requests/{number}/steps/INSTALLATION", {"meter": "HV-0001", "reading": "0"})
    assert (early.status_code, early.json()["code"]) == (409, "NOT_INSPECTED")
    keep(installer, "TEST_REPORT")
    step(installer, "COMPLETION_INSPECTION")
    step(installer, "INSTALLATION", meter="HV-0001", meter_digits=8, multiplier="200", reading="0")
    step(reader, "SIGN_OFF", meter="HV-0001")
    step(clerk, "ACCOUNT", tariff_id="DEMO-LI-2P")
    step(installer, "ENERGISE")
    done = step(reader, "FIRST_READING", reading="1.5")

    assert done["state"] == "DONE" and done["current_step"] is None
    request = ServiceRequest.objects.get(number=number)
    assert (request.account.usage_category, request.account.voltage, request.account.capacity_kva) == (
        "LARGE_INDUSTRY", "KV_1_10", 630)
    assert request.account.installations.get().meter.multiplier == 200
    public = client_for(None).get(f"/api/service-requests/{number}", {"id_number": "91110000600037341L"}).json()
    assert [s["state"] for s in public["steps"]] == ["DONE"] * 11
