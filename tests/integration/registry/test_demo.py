"""`gridcounter demo`: the demo city with every role, 5,500 accounts on all seven tariffs; logins work."""
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse

from gridcounter.application import demo as demo_city
from gridcounter.application.demo import DEMO_PASSWORD, DEMO_USERS
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.org.models import Company, Hall, StaffUser
from gridcounter.data.registry.models import Account, Customer, Installation, Route
from gridcounter.data.service.models import ServiceRequest
from gridcounter.domain.registry import resident_id_problem, uscc_problem

pytestmark = pytest.mark.django_db

TARIFFS = {"BJ-RES-LT1KV", "BJ-RES-1KV", "BJ-RES-SHARED", "SH-RES-TOU", "ZJ-RES-TOU", "SC-GC-TOU", "DEMO-LI-2P"}


@pytest.fixture
def demo(db):
    out = StringIO()
    demo_city.build_registry(as_of=date(2026, 11, 29), stdout=out)
    return out.getvalue()


def test_demo_city_has_accounts_on_every_tariff(demo):
    demo_accounts = Account.objects.filter(city__company__code="DEMO")
    by_tariff = dict(demo_accounts.values_list("tariff_id").annotate(n=Count("id")))
    assert set(by_tariff) == TARIFFS
    assert sum(by_tariff.values()) >= 5000
    residential = sum(n for t, n in by_tariff.items() if t.startswith(("BJ-RES", "SH-RES", "ZJ-RES")))
    assert residential > sum(by_tariff.values()) / 2
    assert demo_accounts.filter(city__code="LS").exists()
    industry = demo_accounts.filter(tariff_id="DEMO-LI-2P")
    assert not industry.filter(capacity_kva__lt=315).exists()
    meters = Installation.objects.filter(account__in=industry, removed_date__isnull=True).select_related("meter")
    assert all(i.meter.multiplier > 1 and "REACTIVE" in i.meter.registers for i in meters)
    tou = Installation.objects.filter(account__tariff_id="SC-GC-TOU").select_related("meter").first().meter
    assert tou.registers == ["PEAK", "FLAT", "VALLEY"]
    assert "loaded" in demo


def test_demo_registry_looks_real(demo):
    people = Customer.objects.filter(accounts__city__company__code="DEMO", id_type="RESIDENT_ID")[:200]
    assert all(resident_id_problem(c.id_number) is None for c in people)
    organisations = Customer.objects.filter(accounts__city__company__code="DEMO", id_type="USCC")[:50]
    assert organisations and all(uscc_problem(c.id_number) is None for c in organisations)
    buildings = (Account.objects.filter(city__code="SFS").values("premise__building")
                 .annotate(flats=Count("id")).filter(flats__gte=4))
    assert buildings.count() >= 50  # several flats per building
    routes = Route.objects.filter(city__company__code="DEMO")
    assert 30 <= routes.count() <= 60
    assert not routes.filter(reader__isnull=True).exists()
    assert len(set(routes.values_list("reading_day", flat=True))) >= 20
    assert set(Hall.objects.filter(city__code="SFS").values_list("kind", flat=True)) == {"CITY", "COUNTY", "RURAL"}
    company = Company.objects.get(code="DEMO")
    assert AuditEvent.objects.filter(action="DEMO_LOADED", object_type="org.Company", object_id=str(company.pk)).count() == 1


def test_every_role_can_sign_in(demo, client):
    roles = set()
    for user in DEMO_USERS:
        # the sign-in page (django-axes needs the request, so client.login() cannot be used)
        response = client.post(reverse("login"), {"username": user.username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, user.username
        assert client.session["_auth_user_id"] == str(StaffUser.objects.get(username=user.username).pk)
        client.logout()
        roles |= set(user.roles)
    assert roles == {"CLERK", "METER_READER", "AUDITOR", "INSTALLER", "ACCOUNT_MANAGER", "SUPERVISOR", "ADMIN"}
    admin = StaffUser.objects.get(username="admin")
    assert admin.is_superuser and admin.has_role("ADMIN")
    assert StaffUser.objects.get(username="ls_clerk").hall.city.name == "邻市"


def test_second_run_does_nothing_and_says_so(demo):
    accounts = Account.objects.filter(city__company__code="DEMO").count()
    out = StringIO()
    demo_city.build_registry(as_of=date(2026, 11, 30), stdout=out)  # the registry step; later steps have their own tests
    assert "already loaded" in out.getvalue()
    assert Account.objects.filter(city__company__code="DEMO").count() == accounts
    logins = StringIO()
    call_command("demo", "--print-logins", stdout=logins)
    assert "clerk_county" in logins.getvalue() and DEMO_PASSWORD in logins.getvalue()


def test_the_demos_withholding_accounts_have_their_mandates(demo):
    from gridcounter.data.withholding.models import Mandate

    withholding = Account.objects.filter(city__company__code="DEMO", bank_withholding=True)
    mandates = Mandate.objects.filter(status=Mandate.Status.ACTIVE).select_related("account")

    assert withholding.count() > 100
    assert {m.account_id for m in mandates} == set(withholding.values_list("pk", flat=True))
    for mandate in mandates[:50]:
        assert mandate.bank_account.isdigit() and len(mandate.bank_account) == 19
        assert mandate.account.bank_account_ref.endswith(mandate.bank_account[-4:])
        assert mandate.signed_hall_id == mandate.account.home_hall_id


def test_the_demo_has_one_open_new_connection_request_on_a_customer_screen(demo):
    out = StringIO()
    demo_city.build_service_requests(as_of=date(2026, 11, 30), stdout=out)
    demo_city.build_service_requests(as_of=date(2026, 11, 30), stdout=out)

    request = ServiceRequest.objects.get(idempotency_key="demo-new-connection-1")
    assert (request.state, request.current_step, request.opened_hall.code) == ("OPEN", "APPLICATION", "SFS-CITY")
    assert request.origin_account.customer == request.customer
    assert "opened for account" in out.getvalue() and "already open" in out.getvalue()
