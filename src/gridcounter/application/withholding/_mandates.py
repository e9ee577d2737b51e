"""Mandates signed at the counter: sign one, cancel one; audited, one active per account, Account kept in step."""
from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from gridcounter.application.ledger import business_date, lock_account
from gridcounter.application.withholding._banks import bank_rules
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.org.models import Hall
from gridcounter.data.registry.models import Account
from gridcounter.data.withholding.models import Mandate
from gridcounter.domain.withholding import MandateRefused, check_bank_account, check_holder, mask_bank_account

REASON_MAX_LENGTH = 500


def _say(refused: MandateRefused) -> MandateRefused:
    """The refusal in the user's language (the domain names the code and the numbers; the bank by its name)."""
    s = dict(refused.slots)
    if "bank" in s and s["bank"] in bank_rules().banks:
        s["bank"] = bank_rules().banks[s["bank"]].name(get_language() or "zh-hans")
    messages = {
        "BANK_UNKNOWN": lambda: _("Choose one of the banks listed."),
        "HOLDER_REQUIRED": lambda: _("Enter the bank account holder's name."),
        "HOLDER_INVALID": lambda: _("The holder's name has at most %(limit)s printable characters.") % s,
        "BANK_ACCOUNT_REQUIRED": lambda: _("Enter the bank account number."),
        "BANK_ACCOUNT_NOT_DIGITS": lambda: _("A bank account number has digits only."),
        "BANK_ACCOUNT_LENGTH": lambda: _("%(bank)s account numbers have %(low)s to %(high)s digits; this one has "
                                         "%(digits)s.") % s,
    }
    say = messages.get(refused.code)
    return MandateRefused(refused.code, say() if say else str(refused), field=refused.field, **refused.slots)


def active_mandate(account: Account) -> Mandate | None:
    return Mandate.objects.select_related("signed_hall", "signed_by").filter(
        account=account, status=Mandate.Status.ACTIVE).first()


def sign_mandate(*, account: Account, bank_code: str, holder_name: str, bank_account: str, clerk, hall: Hall,
                 signed_at: datetime) -> Mandate:
    """Record the customer's withholding mandate, signed at ``hall`` before ``clerk``; the account is marked as
    paying by withholding. Raises MandateRefused (field "bank", "holder", "bank_account"; code ALREADY_SIGNED when
    the account has an active mandate, OUTSIDE_CITY when the hall is of another city, ACCOUNT_CLOSED)."""
    bank = bank_rules().banks.get((bank_code or "").strip())
    if bank is None:
        raise _say(MandateRefused("BANK_UNKNOWN", "unknown bank", field="bank"))
    try:
        holder = check_holder(holder_name)
        number = check_bank_account(bank_account, bank=bank)
    except MandateRefused as refused:
        raise _say(refused) from None
    if hall.city_id != account.city_id:
        raise MandateRefused("OUTSIDE_CITY", _("A mandate is signed at a hall of the account's city."))
    if account.status == Account.Status.CLOSED:
        raise MandateRefused("ACCOUNT_CLOSED", _("The account is closed (销户); it takes no new mandate."))
    actor = Actor(user=clerk, hall=hall, channel="WEB", reason=_("withholding mandate signed"))
    try:
        with acting_as(actor), transaction.atomic():
            lock_account(account.pk)
            if Mandate.objects.filter(account=account, status=Mandate.Status.ACTIVE).exists():
                raise MandateRefused("ALREADY_SIGNED", _("The account already has an active mandate; cancel it "
                                                         "before signing another."))
            mandate = Mandate.objects.create(
                account=account, bank_code=bank.code, holder_name=holder, bank_account=number,
                signed_date=business_date(signed_at), signed_at=signed_at, signed_hall=hall, signed_by=clerk)
            _keep_account_in_step(account, withholding=True, masked=mask_bank_account(number))
            record_event(action="WITHHOLDING_MANDATE_SIGNED", obj=mandate, occurred_at=signed_at,
                         detail={"account": account.number, "bank": bank.code, "holder": holder,
                                 "bank_account": mask_bank_account(number)})
    except IntegrityError:  # the same account signed at another counter a moment ago
        raise MandateRefused("ALREADY_SIGNED", _("The account already has an active mandate; cancel it before "
                                                 "signing another.")) from None
    return mandate


def cancel_mandate(*, mandate: Mandate, by, hall: Hall, reason: str, cancelled_at: datetime) -> Mandate:
    """Cancel an active mandate, with who, when and why; the account no longer pays by withholding. A line already
    sent to the bank stays in its batch (the bank may still collect it, and its result is posted).
    Raises MandateRefused (REASON_REQUIRED, field "reason"; NOT_ACTIVE)."""
    text = " ".join((reason or "").split())
    if not text:
        raise MandateRefused("REASON_REQUIRED", _("Say why the mandate is cancelled."), field="reason")
    if len(text) > REASON_MAX_LENGTH:
        raise MandateRefused("REASON_TOO_LONG", _("The reason has at most %(limit)s characters.") % {
            "limit": REASON_MAX_LENGTH}, field="reason")
    actor = Actor(user=by, hall=hall, channel="WEB", reason=text)
    with acting_as(actor), transaction.atomic():
        lock_account(mandate.account_id)
        locked = Mandate.objects.select_related("account").get(pk=mandate.pk)
        if locked.status != Mandate.Status.ACTIVE:
            raise MandateRefused("NOT_ACTIVE", _("This mandate was already cancelled."))
        locked.status, locked.cancelled_at, locked.cancelled_by = Mandate.Status.CANCELLED, cancelled_at, by
        locked.cancel_reason = text
        locked.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason"])
        _keep_account_in_step(locked.account, withholding=False, masked="")
        record_event(action="WITHHOLDING_MANDATE_CANCELLED", obj=locked, occurred_at=cancelled_at, reason=text,
                     detail={"account": locked.account.number, "bank": locked.bank_code})
    return locked


def _keep_account_in_step(account: Account, *, withholding: bool, masked: str) -> None:
    """Account.bank_withholding and bank_account_ref say what the active mandate says (the registry's fields)."""
    fresh = Account.objects.get(pk=account.pk)
    fresh.bank_withholding, fresh.bank_account_ref = withholding, masked
    fresh.save(update_fields=["bank_withholding", "bank_account_ref"])
    account.bank_withholding, account.bank_account_ref = withholding, masked
