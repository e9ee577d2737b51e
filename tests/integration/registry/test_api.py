"""GET /api/accounts/{number}: staff of the account's city see it with meters and history; others get 404."""
from datetime import date

import pytest

from gridcounter.application import registry
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.org.models import Role
from tests.factories import org as staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(org, actor):
    customer = registry.create_customer(name="王建国", id_type="RESIDENT_ID", id_number="11010519491231002X",
                                        phone="13901012345", actor=actor)
    premise = registry.create_premise(city=org["city"], address="城区光华里3号楼1单元101室", building="城区光华里3号楼",
                                      actor=actor)
    account = registry.create_account(number="3300000501", customer=customer, premise=premise,
                                      home_hall=org["halls"]["city"], usage_category="RESIDENTIAL",
                                      tariff_id="BJ-RES-LT1KV", voltage="LV_220V", household_size=3, actor=actor)
    old = registry.create_meter(asset_number="API-OLD", digits=6, registers=["TOTAL"], actor=actor)
    new = registry.create_meter(asset_number="API-NEW", digits=6, registers=["TOTAL"], actor=actor)
    registry.install_meter(account=account, meter=old, installed_date=date(2019, 1, 1), initial_readings={},
                           actor=actor)
    registry.exchange_meter(account=account, old_meter=old, new_meter=new, exchange_date=date(2023, 3, 1),
                            final_readings={"TOTAL": "4321"}, initial_readings={"TOTAL": "0"}, actor=actor)
    return account


def test_clerk_of_the_city_sees_the_account_with_its_meter_history(client, org, account):
    client.force_login(org["clerk"])
    response = client.get("/api/accounts/3300000501")
    assert response.status_code == 200
    body = response.json()
    assert body["customer"]["name"] == "王建国"
    assert body["customer"]["id_number_masked"] == "110105********002X"
    assert [m["asset_number"] for m in body["meters"]] == ["API-NEW"]
    assert [(i["meter"]["asset_number"], i["installed_date"], i["removed_date"]) for i in body["installations"]] == [
        ("API-OLD", "2019-01-01", "2023-03-01"), ("API-NEW", "2023-03-01", None)]
    assert body["premise"]["building"] == "城区光华里3号楼"


def test_staff_of_another_city_get_not_found_and_the_refusal_is_logged(client, org, account):
    outsider = staff.staff("ls_clerk_t", hall=org["halls"]["other"], roles=(Role.Code.CLERK,))
    client.force_login(outsider)
    assert client.get("/api/accounts/3300000501").status_code == 404
    assert client.get("/api/accounts/9999999999").status_code == 404  # same answer as a missing account
    assert AuditEvent.objects.filter(action="ACCESS_DENIED", user_id=outsider.pk).exists()


def test_signed_out_requests_are_refused(client, account):
    assert client.get("/api/accounts/3300000501").status_code == 401
