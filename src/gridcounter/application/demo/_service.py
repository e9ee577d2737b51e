"""One open new-connection request in the demo city, so that the customer screen, the request page and the work
lists have something to show: opened at the city hall for the customer of the hall's first account, waiting for the
documents."""
from __future__ import annotations

from datetime import date, datetime, time

from gridcounter.application.service import open_request
from gridcounter.data.audit.context import Actor
from gridcounter.data.org.models import StaffUser
from gridcounter.data.registry.models import Account
from gridcounter.data.service.models import ServiceRequest
from gridcounter.domain.business_time import BUSINESS_TZ

KEY = "demo-new-connection-1"
CLERK = "clerk_city"


def build(*, as_of: date, stdout) -> None:
    """Open the demo's request once (idempotent by its key); without the demo registry, nothing."""
    if ServiceRequest.objects.filter(idempotency_key=KEY).exists():
        stdout.write("service: the demo's service request is already open; nothing to do.\n")
        return
    clerk = StaffUser.objects.filter(username=CLERK).select_related("hall__city").first()
    account = (Account.objects.filter(home_hall=clerk.hall).select_related("customer", "premise").order_by("number")
               .first() if clerk else None)
    if account is None:
        stdout.write("service: no demo registry yet; no service request opened.\n")
        return
    customer = account.customer
    request, _created = open_request(
        request_type="NEW_CONNECTION_RESIDENTIAL", hall=clerk.hall, applicant_name=customer.name,
        id_type=customer.id_type, id_number=customer.id_number, phone=customer.phone,
        address=f"{account.premise.address} 附属用房", customer=customer, origin_account=account,
        actor=Actor(user=clerk, hall=clerk.hall, reason="demo loaded", channel="SYSTEM"),
        now=datetime.combine(as_of, time(9, 30), tzinfo=BUSINESS_TZ), idempotency_key=KEY)
    stdout.write(f"service: request {request.number} opened for account {account.number} (waiting for its "
                 f"documents).\n")
