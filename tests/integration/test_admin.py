"""The admin site in English and Chinese: registry and organisation changelists; the audit log is read-only."""
from datetime import date

import pytest
from django.urls import reverse

from gridcounter.data.audit.context import Actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from tests.factories import org, registry

pytestmark = pytest.mark.django_db

CHANGELISTS = ["registry_account", "registry_meter", "registry_installation", "org_hall", "org_staffuser",
               "audit_auditevent", "registry_customer", "registry_route", "imports_importbatch", "imports_rejectedrow",
               "withholding_mandate", "withholding_withholdingbatch", "withholding_withholdingline", "notices_notice",
               "service_servicerequest"]


@pytest.fixture
def admin_client(client):
    company = org.company(code="A", name="管理测试公司")
    city = org.city(company=company, code="AC", name="管理市", province="BJ")
    hall = org.hall(city=city, code="AC-1", name="管理营业厅")
    admin = org.staff("root", hall=hall, is_staff=True, is_superuser=True)
    actor = Actor(user=admin, hall=hall, reason="admin test", channel="WEB")
    account, _meter = registry.metered_account(
        city=city, hall=hall, number="4400000001", name="钱多多", id_type="PASSPORT", id_number="E0001",
        address="管理市一路1号", asset_number="ADM-1", installed=date(2024, 1, 1), actor=actor)
    client.force_login(admin)
    client.account = account
    return client


@pytest.mark.parametrize(("language", "word"), [("en", "Select "), ("zh-hans", "选择")])
@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_changelists_open_in_both_languages(admin_client, changelist, language, word):
    admin_client.cookies["django_language"] = language
    response = admin_client.get(reverse(f"admin:{changelist}_changelist"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    assert word in response.content.decode()  # "Select … to change" / "选择 … 来修改" (or "to view" when read-only)


def test_account_admin_shows_history_and_searches_by_number(admin_client):
    account = admin_client.account
    found = admin_client.get(reverse("admin:registry_account_changelist"), {"q": "4400000001"})
    assert "4400000001" in found.content.decode()
    history = admin_client.get(reverse("admin:registry_account_history", args=[account.pk]))
    assert history.status_code == 200
    assert "admin test" in history.content.decode()  # the reason recorded with the version


def test_audit_log_is_read_only_in_the_admin(admin_client):
    event = record_event(action="TEST_EVENT", detail={"x": 1})
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])

    view = admin_client.get(change_url)
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()  # viewable, no save button
    assert admin_client.post(change_url, {"action": "FORGED"}).status_code == 403
    assert admin_client.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "TEST_EVENT"


@pytest.mark.parametrize(("language", "more"), [("en", "more than 5"), ("zh-hans", "超过 5")])
def test_audit_log_list_counts_no_further_than_needed_and_filters_by_action(admin_client, monkeypatch, language,
                                                                          more):
    """A large log's list says "more than N" instead of counting every row; the action filter offers the actions
    the log holds and shows only that action's events, newest first."""
    from gridcounter.data.audit import admin as audit_admin

    monkeypatch.setattr(audit_admin, "COUNT_CAP", 5)
    for i in range(6):
        record_event(action="PAYMENT_TAKEN", object_id=f"P{i}")
    record_event(action="PAYMENT_REVERSED", object_id="P0")
    url = reverse("admin:audit_auditevent_changelist")
    admin_client.cookies["django_language"] = language

    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert more in page
    assert "?action=PAYMENT_REVERSED" in page and "?action=PAYMENT_TAKEN" in page  # the filter's choices

    filtered = admin_client.get(url, {"action": "PAYMENT_REVERSED"}, HTTP_ACCEPT_LANGUAGE=language)
    rows = filtered.context["cl"].result_list
    assert [event.action for event in rows] == ["PAYMENT_REVERSED"]
    assert "more than" not in filtered.content.decode() and "超过" not in filtered.content.decode()


@pytest.mark.parametrize(("language", "header"), [("en", "GridCounter administration"), ("zh-hans", "电力营业厅系统管理")])
def test_the_admin_names_the_product_not_django(admin_client, language, header):
    admin_client.cookies["django_language"] = language
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert header in page and "Django" not in page.split("<body", 1)[1].split("</header>", 1)[0]


def test_a_mandate_in_the_admin_shows_the_bank_account_masked(admin_client):
    from django.utils import timezone

    from gridcounter.application.withholding import sign_mandate
    from gridcounter.data.org.models import Hall

    hall = Hall.objects.get(code="AC-1")
    mandate = sign_mandate(account=admin_client.account, bank_code="CCB", holder_name="钱多多",
                           bank_account="6217000010012345678", clerk=hall.staff.first(), hall=hall,
                           signed_at=timezone.now())

    page = admin_client.get(reverse("admin:withholding_mandate_change", args=[mandate.pk])).content.decode()

    assert "6217 **** 5678" in page and "6217000010012345678" not in page
