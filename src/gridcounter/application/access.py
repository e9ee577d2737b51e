"""Who may see and do what: the only place access rules live. Views call these; refusals are audited.

Rules (同城通办: any hall in a city serves any customer of that city):

* a user acts only while active and holding a role; ADMIN (or a superuser) may act anywhere;
* staff see the accounts of their own hall's city, never another city's;
* a supervisor supervises the halls of their own city.

A refusal raises ``AccessDenied`` after writing an ``ACCESS_DENIED`` audit event. A refusal to show
one object (an account of another city) raises ``ObjectHidden``, a subclass, which the web layer
answers with 404 rather than 403 so that the existence of another city's customer is not leaked.
"""
from __future__ import annotations

from django.db.models import QuerySet

from gridcounter.data.audit.events import record_event
from gridcounter.data.org.models import Hall, Role
from gridcounter.data.registry.models import Account

ADMIN = Role.Code.ADMIN
CLERK = Role.Code.CLERK
METER_READER = Role.Code.METER_READER
AUDITOR = Role.Code.AUDITOR
INSTALLER = Role.Code.INSTALLER
ACCOUNT_MANAGER = Role.Code.ACCOUNT_MANAGER
SUPERVISOR = Role.Code.SUPERVISOR

# Roles that look customers up and open the customer screen (the counter's everyday work).
CUSTOMER_SERVICE_ROLES = (CLERK, AUDITOR, ACCOUNT_MANAGER, SUPERVISOR)
# Roles that take money at a counter.
PAYMENT_ROLES = (CLERK, SUPERVISOR)


class AccessDenied(Exception):
    """The user may not do this. The refusal has been written to the audit log."""

    def __init__(self, message: str = "access denied", *, rule: str = ""):
        super().__init__(message)
        self.rule = rule


class ObjectHidden(AccessDenied):
    """The object belongs to another city: answered as 'not found' so its existence is not leaked."""


def is_admin(user) -> bool:
    """ADMIN role or Django superuser: may act in every city."""
    if not _is_signed_in(user):
        return False
    if user.is_superuser:
        return True
    return user.has_role(ADMIN)


def require_role(user, *codes: str) -> None:
    """Refuse unless the user is signed in, active and holds one of ``codes`` (ADMIN always passes).

    Raises AccessDenied.
    """
    if not _is_signed_in(user):
        _refuse(user, rule="SIGNED_IN", detail={"roles": list(codes)})
    if is_admin(user):
        return
    if not user.has_role(*codes):
        _refuse(user, rule="ROLE", detail={"roles": sorted(codes)})


def access_account(*, user, account: Account) -> Account:
    """The account, if the user may see it: staff of the account's city; ADMIN anywhere.

    Raises AccessDenied (not signed in), ObjectHidden (another city's account, or no hall).
    """
    if not _is_signed_in(user):
        _refuse(user, rule="SIGNED_IN", obj=account)
    _hide_other_city(user, obj=account, city_id=account.city_id)
    return account


def _hide_other_city(user, *, obj, city_id: int) -> None:
    """Refuse (hidden, as not found) unless the user is ADMIN or works in city `city_id`. Raises ObjectHidden."""
    if is_admin(user):
        return
    if user.city_id is None:
        _refuse(user, rule="NO_HALL", obj=obj, hidden=True)
    if city_id != user.city_id:
        _refuse(user, rule="OTHER_CITY", obj=obj, hidden=True)


def access_account_by_number(*, user, number: str) -> Account:
    """The account with this number, if it exists and the user may see it.

    Raises ObjectHidden when there is no such account or it belongs to another city (the two are
    deliberately indistinguishable), AccessDenied when the user is not signed in.
    """
    account = (
        Account.objects.select_related("customer", "premise", "city", "home_hall", "route")
        .filter(number=number)
        .first()
    )
    if account is None:
        # Nothing to protect; no audit event, but the same answer as for another city's account.
        raise ObjectHidden("no such account", rule="NOT_FOUND")
    return access_account(user=user, account=account)


def access_hall(*, user, hall: Hall) -> Hall:
    """The hall, if the user may act for it: halls of the user's own city; ADMIN anywhere.

    Raises AccessDenied.
    """
    if not _is_signed_in(user):
        _refuse(user, rule="SIGNED_IN", obj=hall)
    if is_admin(user):
        return hall
    if user.city_id is None:
        _refuse(user, rule="NO_HALL", obj=hall)
    if hall.city_id != user.city_id:
        _refuse(user, rule="OTHER_CITY", obj=hall)
    return hall


def can_supervise(*, user, hall: Hall) -> bool:
    """Whether the user supervises this hall: a SUPERVISOR of the hall's city, or ADMIN. Not audited."""
    if not _is_signed_in(user):
        return False
    if is_admin(user):
        return True
    if not user.has_role(SUPERVISOR):
        return False
    if user.city_id is None:
        return False
    return hall.city_id == user.city_id


def scoped_accounts(user) -> QuerySet[Account]:
    """The accounts the user may see: their city's (all for ADMIN; none without a hall or role)."""
    if not _is_signed_in(user):
        return Account.objects.none()
    if is_admin(user):
        return Account.objects.all()
    if user.city_id is None:
        return Account.objects.none()
    if not user.role_codes():
        return Account.objects.none()
    return Account.objects.filter(city_id=user.city_id)


def may_serve_customers(user) -> bool:
    """Whether the user may look customers up and open the customer screen (drives the navigation)."""
    return _may(user, CUSTOMER_SERVICE_ROLES)


def may_take_payments(user) -> bool:
    """Whether the user may take payments: a clerk or supervisor (or ADMIN) who works at a hall."""
    if not _is_signed_in(user):
        return False
    if user.hall_id is None:
        return False
    if is_admin(user):
        return True
    return user.has_role(*PAYMENT_ROLES)


def require_payment_taker(user) -> None:
    """Refuse unless ``may_take_payments``. Raises AccessDenied."""
    require_role(user, *PAYMENT_ROLES)
    if user.hall_id is None:
        _refuse(user, rule="NO_HALL", detail={"roles": sorted(PAYMENT_ROLES)})


def may_administer(user) -> bool:
    """Whether the user may open the administration site (ADMIN role holders with staff status)."""
    if not _is_signed_in(user):
        return False
    if not user.is_staff:
        return False
    return is_admin(user)


# Roles that decide on held bills in the review queue (审核).
REVIEW_ROLES = (AUDITOR, SUPERVISOR)
# Roles that walk a reading route with a phone.
READER_ROLES = (METER_READER,)


def may_review_bills(user) -> bool:
    """Whether the user may open the review queue: an auditor or supervisor with a hall (or ADMIN)."""
    return _may(user, REVIEW_ROLES, needs_city=True)


def review_city_id(user) -> int | None:
    """The city whose held bills the user reviews: their own; None (every city) for ADMIN.

    Raises AccessDenied (not a reviewer, or no hall).
    """
    return work_order_city_id(user, *REVIEW_ROLES)


def may_read_meters(user) -> bool:
    """Whether the user walks reading routes (a meter reader with a hall; ADMIN sees the page too)."""
    return _may(user, READER_ROLES, needs_city=True)


def access_reading_account(*, user, account: Account) -> Account:
    """The account whose meter a reader reads: a meter reader of the account's city (ADMIN anywhere).

    Raises AccessDenied (not a meter reader), ObjectHidden (another city's account).
    """
    require_role(user, *READER_ROLES)
    return access_account(user=user, account=account)


# Roles that see the photos of meter registers sent with readings: the readers who take them, the auditors who
# weigh them, their supervisors. Not the counter's clerks.
READING_PHOTO_ROLES = (METER_READER, AUDITOR, SUPERVISOR)


def may_see_reading_photos(user) -> bool:
    """Whether the user's screens show reading photos (thumbnails, links). Not audited."""
    return _may(user, READING_PHOTO_ROLES, needs_city=True)


def access_reading_photo(*, user, photo_id: int):
    """The reading photo, if the user may see it: a reader, auditor or supervisor of the city of the reading's
    account; ADMIN anywhere.

    Raises AccessDenied (role), ObjectHidden (no such photo, another city's, or a reading with no account).
    """
    from gridcounter.data.readings.models import ReadingPhoto

    require_role(user, *READING_PHOTO_ROLES)
    photo = (ReadingPhoto.objects.select_related("reading__account", "reading__meter", "uploaded_by", "hall")
             .filter(pk=photo_id).first())
    if photo is None:
        raise ObjectHidden("no such photo", rule="NOT_FOUND")
    account = photo.reading.account
    if account is None:
        if is_admin(user):
            return photo
        _refuse(user, rule="NO_ACCOUNT", obj=photo, hidden=True)
    access_account(user=user, account=account)
    return photo


def _is_signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def _may(user, roles, *, needs_city: bool = False) -> bool:
    """The shape of every `may_*` check: signed in; ADMIN always; else one of `roles` (and a city if needed)."""
    if not _is_signed_in(user):
        return False
    if is_admin(user):
        return True
    if needs_city and user.city_id is None:
        return False
    return user.has_role(*roles)


def _refuse(user, *, rule: str, obj=None, detail: dict | None = None, hidden: bool = False):
    signed_in = user is not None and user.is_authenticated
    record_event(
        action="ACCESS_DENIED",
        obj=obj,
        user=user if signed_in else None,
        hall=getattr(user, "hall", None) if signed_in else None,
        detail={"rule": rule, **(detail or {})},
    )
    raise (ObjectHidden if hidden else AccessDenied)(f"access denied: {rule}", rule=rule)


# --- counter transactions: receipts, bills as PDFs, readings at the counter, the supervisor's day ---------

# Roles that type in a reading the customer brought to the counter (source CUSTOMER).
COUNTER_READING_ROLES = (CLERK, SUPERVISOR)
# Roles that see the supervisor's day view.
DAY_VIEW_ROLES = (SUPERVISOR,)


def access_payment(*, user, payment_id: int):
    """The payment (receipt), if the user may see its account: customer-service staff of its city; ADMIN.

    Raises AccessDenied (role), ObjectHidden (no such payment, or another city's).
    """
    from gridcounter.data.ledger.models import Payment

    require_role(user, *CUSTOMER_SERVICE_ROLES)
    payment = Payment.objects.select_related("account__customer", "account__premise", "account__city",
                                             "hall", "clerk").filter(pk=payment_id).first()
    if payment is None:
        raise ObjectHidden("no such payment", rule="NOT_FOUND")
    access_account(user=user, account=payment.account)
    return payment


def access_bill(*, user, bill_id: int):
    """The bill, if the user may see its account: customer-service staff of its city; ADMIN.

    Raises AccessDenied (role), ObjectHidden (no such bill, or another city's).
    """
    from gridcounter.data.billing.models import Bill

    require_role(user, *CUSTOMER_SERVICE_ROLES)
    bill = Bill.objects.select_related("account__customer", "account__premise", "account__city__company",
                                       "account__home_hall").filter(pk=bill_id).first()
    if bill is None:
        raise ObjectHidden("no such bill", rule="NOT_FOUND")
    access_account(user=user, account=bill.account)
    return bill


def may_enter_counter_readings(user) -> bool:
    """Whether the user may type in a reading the customer brought: a clerk or supervisor (or ADMIN)."""
    return _may(user, COUNTER_READING_ROLES)


def may_reverse_payments(user) -> bool:
    """Whether the user may reverse some payments: a CLERK (their own of the same open day) or a SUPERVISOR of the
    city (or ADMIN); which ones is `application.ledger.reversal_kind`. Not audited."""
    return _may(user, PAYMENT_ROLES)


PENALTY_WAIVER_ROLES = (SUPERVISOR,)


def may_waive_penalties(user) -> bool:
    """Whether the customer screen offers to waive a charged late-payment penalty (a supervisor of the city, or
    ADMIN); `application.ledger.waive_penalty` checks the account's city."""
    return _may(user, PENALTY_WAIVER_ROLES, needs_city=True)


def may_see_day_view(user) -> bool:
    """Whether the navigation offers the supervisor's day view."""
    return _may(user, DAY_VIEW_ROLES, needs_city=True)


def supervised_halls(user) -> QuerySet[Hall]:
    """The halls whose day the user may review: every hall of a supervisor's city; all halls for ADMIN.

    Raises AccessDenied (not a supervisor, or no hall).
    """
    require_role(user, *DAY_VIEW_ROLES)
    if is_admin(user):
        return Hall.objects.select_related("city").all()
    if user.city_id is None:
        _refuse(user, rule="NO_HALL", detail={"roles": list(DAY_VIEW_ROLES)})
    return Hall.objects.select_related("city").filter(city_id=user.city_id)


# --- bank withholding: mandates at the counter, batches on the supervisor's screen ---------------------------

# Roles that sign or cancel a customer's withholding mandate at a counter.
MANDATE_ROLES = (CLERK, SUPERVISOR)


def may_sign_mandates(user) -> bool:
    """Whether the customer screen offers signing and cancelling mandates: a clerk or supervisor with a hall."""
    return _may(user, MANDATE_ROLES, needs_city=True) and user.hall_id is not None


def access_mandate_account(*, user, account: Account) -> Account:
    """The account whose mandate the user signs or cancels: a clerk or supervisor at a hall of its city (ADMIN
    with a hall anywhere). Raises AccessDenied (role, no hall), ObjectHidden (another city's account)."""
    require_role(user, *MANDATE_ROLES)
    if user.hall_id is None:
        _refuse(user, rule="NO_HALL", obj=account, detail={"roles": sorted(MANDATE_ROLES)})
    return access_account(user=user, account=account)


def withholding_city_ids(user) -> list[int] | None:
    """The cities whose withholding batches the user reconciles: a supervisor's own; None (all) for ADMIN.
    Raises AccessDenied (not a supervisor, or no hall)."""
    require_role(user, *DAY_VIEW_ROLES)
    if is_admin(user):
        return None
    if user.city_id is None:
        _refuse(user, rule="NO_HALL", detail={"roles": list(DAY_VIEW_ROLES)})
    return [user.city_id]
# --- service requests (业务申请): new connections and the steps of each ------------------------------------------

# Roles that see a request of their city and its documents (each completes the steps of its own role).
SERVICE_REQUEST_ROLES = (CLERK, INSTALLER, METER_READER, ACCOUNT_MANAGER, AUDITOR, SUPERVISOR)
# Roles that open a request for an applicant at a counter.
OPEN_REQUEST_ROLES = (CLERK, ACCOUNT_MANAGER, SUPERVISOR)
# Roles whose home lists the work orders of their steps (survey, installation, energising; sign-off, first reading).
WORK_ORDER_ROLES = (INSTALLER, METER_READER)
# Roles that see the steps overdue or due within a day.
OVERDUE_VIEW_ROLES = (SUPERVISOR,)


def access_service_request(*, user, number: str):
    """The service request with this number, if the user may see it: staff of a SERVICE_REQUEST_ROLES role in its
    city; ADMIN anywhere.

    Raises AccessDenied (role, not signed in), ObjectHidden (no such request, or another city's: the two answer
    alike).
    """
    from gridcounter.data.service.models import ServiceRequest

    require_role(user, *SERVICE_REQUEST_ROLES)
    request = (ServiceRequest.objects.select_related("city", "opened_hall", "opened_by", "account", "meter",
                                                     "origin_account").filter(number=number).first())
    if request is None:
        raise ObjectHidden("no such request", rule="NOT_FOUND")
    _hide_other_city(user, obj=request, city_id=request.city_id)
    return request


def access_service_document(*, user, document_id: int):
    """A document kept with a request, if the user may see the request. Raises AccessDenied, ObjectHidden."""
    from gridcounter.data.service.models import ServiceDocument

    document = ServiceDocument.objects.select_related("request").filter(pk=document_id).first()
    if document is None:
        require_role(user, *SERVICE_REQUEST_ROLES)
        raise ObjectHidden("no such document", rule="NOT_FOUND")
    access_service_request(user=user, number=document.request.number)
    return document


def require_request_opener(user, *, hall: Hall | None) -> Hall:
    """The hall a request is opened at: the user's own, for a clerk, key-account manager or supervisor with a
    hall. Raises AccessDenied."""
    require_role(user, *OPEN_REQUEST_ROLES)
    if hall is None:
        _refuse(user, rule="NO_HALL", detail={"roles": sorted(OPEN_REQUEST_ROLES)})
    return access_hall(user=user, hall=hall)


def may_open_requests(user) -> bool:
    """Whether the customer screen offers "new request" (a clerk, key-account manager or supervisor with a hall)."""
    return _may(user, OPEN_REQUEST_ROLES, needs_city=True) and user.hall_id is not None


def may_see_work_orders(user) -> bool:
    """Whether the navigation offers the work orders (installers and meter readers with a hall)."""
    return _may(user, WORK_ORDER_ROLES, needs_city=True)


def may_see_steps_due(user) -> bool:
    """Whether the navigation offers the steps overdue or due within a day (supervisors)."""
    return _may(user, OVERDUE_VIEW_ROLES, needs_city=True)


def work_order_city_id(user, *roles: str) -> int | None:
    """The city whose work a list shows (held bills, requests): the user's own; None (every city) for ADMIN.

    Raises AccessDenied (none of `roles`, or no hall).
    """
    require_role(user, *roles)
    if is_admin(user):
        return None
    if user.city_id is None:
        _refuse(user, rule="NO_HALL", detail={"roles": sorted(roles)})
    return user.city_id
