"""Access rules: who may see which accounts and halls; every refusal is in the audit log."""
from __future__ import annotations

from types import SimpleNamespace

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
from gridcounter.data.org.models import City, Company, Hall, Role, StaffUser
from gridcounter.data.registry.models import Account, Customer, Premise

pytestmark = pytest.mark.django_db


def _staff(username: str, *, hall: Hall | None, roles: tuple[str, ...] = (), **extra) -> StaffUser:
    user = StaffUser.objects.create_user(username=username, password=None, hall=hall, **extra)
    for code in roles:
        user.roles.add(Role.objects.get_or_create(code=code)[0])
    return user


def _account(number: str, *, city: City, hall: Hall) -> Account:
    customer = Customer.objects.create(name=f"客户{number}", id_type="RESIDENT_ID", id_number=f"ID{number}")
    premise = Premise.objects.create(city=city, address=f"{city.name}{number}号")
    return Account.objects.create(number=number, customer=customer, premise=premise, city=city, home_hall=hall,
                                  usage_category="RESIDENTIAL", tariff_id="T", voltage="LV_220V")


@pytest.fixture
def world():
    company = Company.objects.create(code="ACC", name="Access Grid")
    hangzhou = City.objects.create(company=company, code="HZ", name="杭州", province="ZJ")
    ningbo = City.objects.create(company=company, code="NB", name="宁波", province="ZJ")
    west_lake = Hall.objects.create(city=hangzhou, code="HZ-1", name="西湖营业厅")
    binjiang = Hall.objects.create(city=hangzhou, code="HZ-2", name="滨江营业厅")
    haishu = Hall.objects.create(city=ningbo, code="NB-1", name="海曙营业厅")
    return SimpleNamespace(
        hangzhou=hangzhou, ningbo=ningbo, west_lake=west_lake, binjiang=binjiang, haishu=haishu,
        clerk=_staff("clerk", hall=west_lake, roles=(Role.Code.CLERK,)),
        ningbo_clerk=_staff("nb-clerk", hall=haishu, roles=(Role.Code.CLERK,)),
        reader=_staff("reader", hall=west_lake, roles=(Role.Code.METER_READER,)),
        supervisor=_staff("supervisor", hall=west_lake, roles=(Role.Code.SUPERVISOR,)),
        admin=_staff("admin", hall=None, roles=(Role.Code.ADMIN,), is_staff=True),
        hallless=_staff("hallless", hall=None, roles=(Role.Code.CLERK,)),
        binjiang_account=_account("HZ0001", city=hangzhou, hall=binjiang),
        ningbo_account=_account("NB0001", city=ningbo, hall=haishu),
    )


def refusals(user, **filters):
    return AuditEvent.objects.filter(action="ACCESS_DENIED", user_id=user.pk, **filters)


def test_a_clerk_sees_an_account_of_another_hall_in_her_city(world):
    assert access_account(user=world.clerk, account=world.binjiang_account) == world.binjiang_account
    assert not refusals(world.clerk).exists()


def test_an_account_of_another_city_is_hidden_and_the_refusal_audited(world):
    with pytest.raises(ObjectHidden):
        access_account(user=world.ningbo_clerk, account=world.binjiang_account)

    event = refusals(world.ningbo_clerk).get()
    assert event.object_type == "registry.Account"
    assert event.object_id == str(world.binjiang_account.pk)
    assert event.detail["rule"] == "OTHER_CITY"
    assert event.hall_id == world.haishu.pk


def test_looking_up_an_unknown_number_answers_like_another_citys_account(world):
    with pytest.raises(ObjectHidden):
        access_account_by_number(user=world.clerk, number="NO-SUCH")
    with pytest.raises(ObjectHidden):
        access_account_by_number(user=world.clerk, number="NB0001")
    assert access_account_by_number(user=world.clerk, number="HZ0001") == world.binjiang_account


def test_admin_sees_every_city(world):
    assert access_account(user=world.admin, account=world.ningbo_account) == world.ningbo_account
    assert set(scoped_accounts(world.admin)) >= {world.ningbo_account, world.binjiang_account}
    assert access_hall(user=world.admin, hall=world.haishu) == world.haishu


def test_a_superuser_without_roles_is_an_admin(world):
    root = _staff("root", hall=None, is_superuser=True, is_staff=True)
    assert access_account(user=root, account=world.ningbo_account) == world.ningbo_account
    assert may_administer(root)


def test_staff_without_a_hall_see_no_accounts(world):
    with pytest.raises(ObjectHidden):
        access_account(user=world.hallless, account=world.binjiang_account)
    assert not scoped_accounts(world.hallless).exists()


def test_scoped_accounts_are_the_users_city(world):
    visible = set(scoped_accounts(world.clerk))
    assert world.binjiang_account in visible
    assert world.ningbo_account not in visible


def test_a_user_without_roles_sees_nothing(world):
    nobody = _staff("nobody", hall=world.west_lake)
    assert not scoped_accounts(nobody).exists()
    assert not may_serve_customers(nobody)


def test_an_inactive_user_is_refused_everything(world):
    world.clerk.is_active = False
    world.clerk.save()
    with pytest.raises(AccessDenied):
        require_role(world.clerk, Role.Code.CLERK)
    with pytest.raises(AccessDenied):
        access_account(user=world.clerk, account=world.binjiang_account)
    assert not scoped_accounts(world.clerk).exists()


def test_require_role_refuses_other_roles_and_audits(world):
    require_role(world.clerk, Role.Code.CLERK, Role.Code.AUDITOR)
    with pytest.raises(AccessDenied) as refused:
        require_role(world.reader, Role.Code.CLERK, Role.Code.AUDITOR)
    assert not isinstance(refused.value, ObjectHidden)
    event = refusals(world.reader).get()
    assert event.detail == {"rule": "ROLE", "roles": ["AUDITOR", "CLERK"]}


def test_admin_passes_every_role_check(world):
    require_role(world.admin, Role.Code.METER_READER)


def test_halls_of_the_own_city_only(world):
    assert access_hall(user=world.clerk, hall=world.binjiang) == world.binjiang
    with pytest.raises(AccessDenied):
        access_hall(user=world.clerk, hall=world.haishu)
    assert refusals(world.clerk, object_type="org.Hall", object_id=str(world.haishu.pk)).exists()


def test_a_supervisor_supervises_the_halls_of_her_city(world):
    assert can_supervise(user=world.supervisor, hall=world.west_lake)
    assert can_supervise(user=world.supervisor, hall=world.binjiang)
    assert not can_supervise(user=world.supervisor, hall=world.haishu)
    assert not can_supervise(user=world.clerk, hall=world.west_lake)
    assert can_supervise(user=world.admin, hall=world.haishu)


def test_who_serves_customers(world):
    assert may_serve_customers(world.clerk)
    assert may_serve_customers(world.supervisor)
    assert may_serve_customers(world.admin)
    assert not may_serve_customers(world.reader)
    assert not may_administer(world.clerk)
    assert may_administer(world.admin)
