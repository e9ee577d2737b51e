"""Fixtures for ledger tests: Hangzhou with two halls, Ningbo with one, their staff and an account."""
from types import SimpleNamespace

import pytest

from gridcounter.data.org.models import Role

from . import factories as f


@pytest.fixture
def world(db):
    hangzhou = f.city(code="HZ", name="Hangzhou")
    ningbo = f.city(code="NB", name="Ningbo")
    west_lake = f.hall(city=hangzhou, code="HZ01", name="West Lake hall")
    binjiang = f.hall(city=hangzhou, code="HZ02", name="Binjiang hall")
    haishu = f.hall(city=ningbo, code="NB01", name="Haishu hall")
    return SimpleNamespace(
        hangzhou=hangzhou, ningbo=ningbo, west_lake=west_lake, binjiang=binjiang, haishu=haishu,
        clerk=f.staff(hall=binjiang),
        ningbo_clerk=f.staff(hall=haishu),
        supervisor=f.staff(hall=west_lake, roles=(Role.Code.SUPERVISOR,)),
        ningbo_supervisor=f.staff(hall=haishu, roles=(Role.Code.SUPERVISOR,)),
        account=f.account(city=hangzhou, home_hall=west_lake),
    )
