"""The service-request screens over HTTP: each checks role and city, shows the steps and refuses with the guard's
reason; the installer's home lists the installations due, the supervisor's list the steps overdue."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gridcounter.data.service.models import ServiceRequest
from tests.factories import service

pytestmark = pytest.mark.django_db


@pytest.fixture
def opened(small_city, photo_media):
    return service.residential(clerk=small_city.clerk, now=timezone.now(), origin_account=small_city.account)


def page(client, user, url, language="en"):
    client.force_login(user)
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language)


def test_the_customer_screen_lists_the_accounts_requests_and_starts_a_new_one(client, small_city, opened):
    body = page(client, small_city.clerk, f"/accounts/{small_city.account.number}/").content.decode()

    card = body[body.index('data-testid="service-requests"'):]
    assert opened.number in card and "In progress" in card and "Application accepted" in card
    assert f'href="/accounts/{small_city.account.number}/requests/new/"' in card


def test_the_clerk_opens_a_request_from_the_customer_screen(client, small_city, photo_media):
    client.force_login(small_city.clerk)
    url = f"/accounts/{small_city.account.number}/requests/new/"
    form = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "居民新装" in form and "一证受理" in form  # the checklist names the documents

    response = client.post(url, {"request_type": "NEW_CONNECTION_RESIDENTIAL", "applicant_name": "王建国",
                                 "id_type": "RESIDENT_ID", "id_number": "11010119800106123X",
                                 "address": "示范市东城区和平里二巷9号", "key": "web-form-1"})
    again = client.post(url, {"request_type": "NEW_CONNECTION_RESIDENTIAL", "applicant_name": "王建国",
                              "id_type": "RESIDENT_ID", "id_number": "11010119800106123X",
                              "address": "示范市东城区和平里二巷9号", "key": "web-form-1"})

    opened = ServiceRequest.objects.get(idempotency_key="web-form-1")
    assert response.status_code == again.status_code == 302 and response["Location"] == f"/requests/{opened.number}/"
    assert opened.customer == small_city.account.customer and opened.origin_account == small_city.account


def test_a_bad_form_says_why_beside_what_was_typed(client, small_city):
    client.force_login(small_city.clerk)

    response = client.post(f"/accounts/{small_city.account.number}/requests/new/", {
        "request_type": "NEW_CONNECTION_RESIDENTIAL", "applicant_name": "王建国", "id_type": "RESIDENT_ID",
        "id_number": "11010119800106123X", "address": ""}, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 400
    assert "用电地址：必须填写申请用电的地址。" in response.content.decode()


def test_the_request_page_shows_the_guards_reason_when_a_step_is_tried_too_early(client, small_city, opened):
    client.force_login(small_city.installer)

    response = client.post(f"/requests/{opened.number}/steps/", {"step": "ENERGISE"}, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 409
    assert "计量装置尚未装好（“装表”未完成），不能办理“送电”。" in response.content.decode()


def test_the_request_page_offers_the_form_only_to_the_role_whose_step_it_is(client, small_city, opened):
    clerk = page(client, small_city.clerk, f"/requests/{opened.number}/").content.decode()
    reader = page(client, small_city.reader, f"/requests/{opened.number}/").content.decode()

    assert 'name="step" value="APPLICATION"' in clerk and "Waiting for:" in clerk and "valid ID" in clerk
    assert 'name="step"' not in reader and "This step is for the counter clerk to complete." in reader


@pytest.mark.parametrize("who, status", [("other_clerk", 404), ("no_role", 403), ("account_manager", 200)])
def test_every_service_screen_checks_role_and_city(client, small_city, opened, who, status):
    assert page(client, getattr(small_city, who), f"/requests/{opened.number}/").status_code == status


def test_a_document_is_served_only_to_staff_of_its_city(client, small_city, opened):
    document = service.attach(opened, kind="ID", by=small_city.clerk, now=timezone.now())

    mine = page(client, small_city.clerk, f"/requests/documents/{document.pk}/")
    theirs = page(client, small_city.other_clerk, f"/requests/documents/{document.pk}/")

    assert mine.status_code == 200 and mine["Content-Type"] == "application/pdf"
    assert b"".join(mine.streaming_content) == service.pdf("ID")
    assert theirs.status_code == 404


def test_the_installer_lands_on_the_installations_due(client, small_city, opened):
    now = timezone.now()
    service.through(opened, "SUPPLY_PLAN", world=small_city, now=now)
    client.force_login(small_city.installer)

    home = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    work = client.get("/work-orders/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert opened.number in home and "Meter installation" in home
    assert opened.number in work


def test_the_supervisor_sees_the_steps_overdue(client, small_city, opened):
    ServiceRequest.objects.filter(pk=opened.pk).update(current_due_date=timezone.localdate() - timedelta(days=10))

    body = page(client, small_city.supervisor, "/supervisor/requests/").content.decode()
    other = page(client, small_city.other_supervisor, "/supervisor/requests/").content.decode()

    assert opened.number in body and 'data-testid="late"' in body
    assert opened.number not in other
    assert page(client, small_city.clerk, "/supervisor/requests/").status_code == 403


def test_the_admin_shows_a_request_with_its_steps_and_documents_read_only(client, small_city, opened):
    service.through(opened, "SURVEY", world=small_city, now=timezone.now())
    client.force_login(small_city.admin)

    body = client.get(f"/admin/service/servicerequest/{opened.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")

    assert body.status_code == 200
    text = body.content.decode()
    assert "APPLICATION" in text and "SURVEY" in text and "PROMISE" in text and 'name="_save"' not in text
