"""A small organisation built in the test: the demo city's codes, so examples/registry-sample.csv fits."""
import pytest

from gridcounter.application.registry import ensure_roles
from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import City, Company, Hall, StaffUser


@pytest.fixture
def org(db):
    company = Company.objects.create(code="T", name="测试供电公司")
    city = City.objects.create(company=company, code="SFS", name="示范市", province="BJ")
    other_city = City.objects.create(company=company, code="LS", name="邻市", province="ZJ")
    halls = {
        "city": Hall.objects.create(city=city, code="SFS-CITY", name="城区营业厅", kind="CITY"),
        "county": Hall.objects.create(city=city, code="SFS-COUNTY", name="县营业厅", kind="COUNTY"),
        "other": Hall.objects.create(city=other_city, code="LS-CITY", name="邻市营业厅", kind="CITY"),
    }
    roles = ensure_roles()
    clerk = StaffUser.objects.create(username="t_clerk", hall=halls["city"])  # no login needed: no hashing
    clerk.roles.set([roles["CLERK"]])
    return {"company": company, "city": city, "other_city": other_city, "halls": halls, "clerk": clerk}


@pytest.fixture
def actor(org):
    return Actor(user=org["clerk"], hall=org["halls"]["city"], reason="test change", channel="WEB")
