"""Access rules: who may see which accounts and halls; every refusal is in the audit log."""
from __future__ import annotations

import pytest

from gridcounter.application.access import (
    AccessDenied,
    ObjectHidden,
    access_account,
    access_account_by_number,
    access_hall,
    can_supervise,
    may_administer,
    may_serve_customers,
    require_role,
    scoped_accounts,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.org.models import Role
from tests.factories import org

pytestmark = pytest.mark.django_db


def refusals(user, **filters):
    return AuditEvent.objects.filter(action="ACCESS_DENIED", user_id=user.pk, **filters)


def test_a_clerk_sees_an_account_of_another_hall_in_her_city(two_cities):
    assert access_account(user=two_cities.clerk, account=two_cities.account) == two_cities.account
    assert not refusals(two_cities.clerk).exists()


def test_an_account_of_another_city_is_hidden_and_the_refusal_audited(two_cities):
    with pytest.raises(ObjectHidden):
        access_account(user=two_cities.ningbo_clerk, account=two_cities.account)

    event = refusals(two_cities.ningbo_clerk).get()
    assert event.object_type == "registry.Account"
    assert event.object_id == str(two_cities.account.pk)
    assert event.detail["rule"] == "OTHER_CITY"
    assert event.hall_id == two_cities.haishu.pk


def test_looking_up_an_unknown_number_answers_like_another_citys_account(two_cities):
    with pytest.raises(ObjectHidden):
        access_account_by_number(user=two_cities.clerk, number="NO-SUCH")
    with pytest.raises(ObjectHidden):
        access_account_by_number(user=two_cities.clerk, number=two_cities.ningbo_account.number)
    assert access_account_by_number(user=two_cities.clerk, number=two_cities.account.number) == two_cities.account


def test_admin_sees_every_city(two_cities):
    assert access_account(user=two_cities.admin, account=two_cities.ningbo_account) == two_cities.ningbo_account
    assert set(scoped_accounts(two_cities.admin)) >= {two_cities.ningbo_account, two_cities.account}
    assert access_hall(user=two_cities.admin, hall=two_cities.haishu) == two_cities.haishu


def test_a_superuser_without_roles_is_an_admin(two_cities):
    root = org.staff("root", hall=None, is_superuser=True, is_staff=True)
    assert access_account(user=root, account=two_cities.ningbo_account) == two_cities.ningbo_account
    assert may_administer(root)


def test_staff_without_a_hall_see_no_accounts(two_cities):
    with pytest.raises(ObjectHidden):
        access_account(user=two_cities.hallless, account=two_cities.account)
    assert not scoped_accounts(two_cities.hallless).exists()


def test_scoped_accounts_are_the_users_city(two_cities):
    visible = set(scoped_accounts(two_cities.clerk))
    assert two_cities.account in visible
    assert two_cities.ningbo_account not in visible


def test_a_user_without_roles_sees_nothing(two_cities):
    nobody = org.staff("nobody", hall=two_cities.west_lake)
    assert not scoped_accounts(nobody).exists()
    assert not may_serve_customers(nobody)


def test_an_inactive_user_is_refused_everything(two_cities):
    two_cities.clerk.is_active = False
    two_cities.clerk.save()
    with pytest.raises(AccessDenied):
        require_role(two_cities.clerk, Role.Code.CLERK)
    with pytest.raises(AccessDenied):
        access_account(user=two_cities.clerk, account=two_cities.account)
    assert not scoped_accounts(two_cities.clerk).exists()


def test_require_role_refuses_other_roles_and_audits(two_cities):
    require_role(two_cities.clerk, Role.Code.CLERK, Role.Code.AUDITOR)
    with pytest.raises(AccessDenied) as refused:
        require_role(two_cities.reader, Role.Code.CLERK, Role.Code.AUDITOR)
    assert not isinstance(refused.value, ObjectHidden)
    event = refusals(two_cities.reader).get()
    assert event.detail == {"rule": "ROLE", "roles": ["AUDITOR", "CLERK"]}


def test_admin_passes_every_role_check(two_cities):
    require_role(two_cities.admin, Role.Code.METER_READER)


def test_halls_of_the_own_city_only(two_cities):
    assert access_hall(user=two_cities.clerk, hall=two_cities.west_lake) == two_cities.west_lake
    with pytest.raises(AccessDenied):
        access_hall(user=two_cities.clerk, hall=two_cities.haishu)
    assert refusals(two_cities.clerk, object_type="org.Hall", object_id=str(two_cities.haishu.pk)).exists()


def test_a_supervisor_supervises_the_halls_of_her_city(two_cities):
    assert can_supervise(user=two_cities.supervisor, hall=two_cities.west_lake)
    assert can_supervise(user=two_cities.supervisor, hall=two_cities.binjiang)
    assert not can_supervise(user=two_cities.supervisor, hall=two_cities.haishu)
    assert not can_supervise(user=two_cities.clerk, hall=two_cities.west_lake)
    assert can_supervise(user=two_cities.admin, hall=two_cities.haishu)


def test_who_serves_customers(two_cities):
    assert may_serve_customers(two_cities.clerk)
    assert may_serve_customers(two_cities.supervisor)
    assert may_serve_customers(two_cities.admin)
    assert not may_serve_customers(two_cities.reader)
    assert not may_administer(two_cities.clerk)
    assert may_administer(two_cities.admin)
