"""Online payments: a gateway's signed callback booked through the one payment use case (docs/collections.md).

Gateways are configuration, setting ``GRIDCOUNTER_PAYMENT_GATEWAYS`` (from the environment variable of that name,
JSON): ``{"CODE": {"secret": "...", "halls": ["HALL-CODE", ...], "replay_window_seconds": 300}}``. ``halls``
names, per city the gateway serves, the hall whose receipts and day view its payments go to (one hall per city;
an "online" hall set up with the org import, or a real one). Secrets never live in the repository.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from gridcounter.application.ledger._locks import retrying
from gridcounter.application.ledger._payments import IdempotencyKeyReused, PaymentResult, take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Hall
from gridcounter.data.registry.models import Account
from gridcounter.domain import gateway_signature
from gridcounter.domain.gateway_signature import DEFAULT_REPLAY_WINDOW_SECONDS, CallbackRefused

GATEWAY_CODE_TEXT = "^[A-Za-z0-9_-]{1,16}$"
TRANSACTION_ID_TEXT = "^[A-Za-z0-9_.:-]{1,48}$"  # with "gateway:<code>:" at most 80: take_payment's key


class GatewayMisconfigured(ValueError):
    """GRIDCOUNTER_PAYMENT_GATEWAYS is not what docs/collections.md says."""


class GatewayAccountUnknown(Exception):
    """No account of that number in a city the gateway serves."""

    def __init__(self, number: str):
        self.number = number
        super().__init__(_("No account %(number)s.") % {"number": number})


class TransactionConflict(Exception):
    """The gateway's transaction id was already booked with another account or amount."""

    def __init__(self, *, transaction_id: str, payment: Payment):
        self.transaction_id = transaction_id
        self.payment = payment
        super().__init__(_("Transaction %(transaction)s was already booked as receipt %(receipt)s with another "
                           "account or amount; nothing was booked.") % {
            "transaction": transaction_id, "receipt": payment.receipt_number})


@dataclass(frozen=True)
class Gateway:
    code: str
    secret: str
    hall_codes: tuple[str, ...]
    replay_window_seconds: int = DEFAULT_REPLAY_WINDOW_SECONDS

    def __repr__(self):  # never the secret, not even in a traceback
        return f"Gateway({self.code!r}, halls={self.hall_codes!r}, window={self.replay_window_seconds})"

    def verify(self, *, timestamp: str | None, signature: str | None, body: bytes, now: int) -> int:
        return gateway_signature.verify(secret=self.secret, timestamp=timestamp, signature=signature, body=body,
                                        now=now, window_seconds=self.replay_window_seconds)

    @property
    def actor(self) -> Actor:
        return Actor(channel="GATEWAY", name=f"gateway:{self.code}", reason=f"online payment callback ({self.code})")


def gateways() -> dict[str, Gateway]:
    """The configured gateways by code; GatewayMisconfigured names what is wrong."""
    configured = getattr(settings, "GRIDCOUNTER_PAYMENT_GATEWAYS", None) or {}
    if not isinstance(configured, dict):
        raise GatewayMisconfigured("GRIDCOUNTER_PAYMENT_GATEWAYS must be a JSON object of gateways by code")
    found = {}
    for code, entry in configured.items():
        if not isinstance(code, str) or re.fullmatch(GATEWAY_CODE_TEXT, code) is None:
            raise GatewayMisconfigured(f"gateway code {code!r} must be 1 to 16 of A-Z a-z 0-9 _ -")
        if not isinstance(entry, dict) or not isinstance(entry.get("secret"), str) or len(entry["secret"]) < 16:
            raise GatewayMisconfigured(f"gateway {code}: secret must be text of at least 16 characters")
        halls = entry.get("halls")
        if not isinstance(halls, list) or not halls or not all(isinstance(h, str) and h for h in halls):
            raise GatewayMisconfigured(f"gateway {code}: halls must be a list of hall codes, one per city")
        window = entry.get("replay_window_seconds", DEFAULT_REPLAY_WINDOW_SECONDS)
        if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 3600:
            raise GatewayMisconfigured(f"gateway {code}: replay_window_seconds must be 1 to 3600")
        found[code] = Gateway(code=code, secret=entry["secret"], hall_codes=tuple(halls),
                              replay_window_seconds=window)
    return found


def find_gateway(code: str) -> Gateway | None:
    return gateways().get(code)


def transaction_key(*, gateway: str, transaction_id: str) -> str:
    """take_payment's idempotency key of a gateway's transaction: it books once, whoever delivers it."""
    return f"gateway:{gateway}:{transaction_id}"


def record_refusal(*, gateway: str, code: str, reason: str, ip_address: str | None,
                   transaction_id: str = "") -> None:
    """Log a refused callback: the gateway, the code and reason, the client's IP; never the secret or the body."""
    with acting_as(Actor(channel="GATEWAY", name=f"gateway:{gateway}"[:150], reason="online payment callback")):
        record_event(action="GATEWAY_CALLBACK_REFUSED", object_type="gateway", object_id=gateway[:64],
                     detail={"gateway": gateway[:64], "code": code, "reason": reason[:200],
                             **({"transaction_id": transaction_id} if transaction_id else {})},
                     ip_address=ip_address)


@retrying
def gateway_payment(*, gateway: Gateway, transaction_id: str, account_number: str, amount_fen: int,
                    paid_at: datetime, received_at: datetime, ip_address: str | None = None) -> PaymentResult:
    """Book a verified callback: an ONLINE payment at the gateway's hall of the account's city, taken at
    ``received_at`` (its business date is the day it is booked), idempotent on the transaction id (the same again
    answers the first payment, ``replayed``). The gateway's ``paid_at``, the transaction id and the caller's IP are
    kept in a GATEWAY_PAYMENT_RECEIVED event, in the payment's transaction. Raises GatewayAccountUnknown (no such
    account in the gateway's cities), TransactionConflict (the id booked with another account or amount)."""
    halls = {hall.city_id: hall for hall in Hall.objects.select_related("city").filter(code__in=gateway.hall_codes)}
    account = Account.objects.select_related("city").filter(number=account_number, city_id__in=halls).first()
    if account is None:
        raise GatewayAccountUnknown(account_number)
    hall = halls[account.city_id]
    key = transaction_key(gateway=gateway.code, transaction_id=transaction_id)
    try:
        with acting_as(dataclasses.replace(gateway.actor, hall=hall)), transaction.atomic():
            result = take_payment(account=account, amount_fen=amount_fen, channel=Payment.Channel.ONLINE, hall=hall,
                                  clerk=None, idempotency_key=key, taken_at=received_at)
            if not result.replayed:
                record_event(action="GATEWAY_PAYMENT_RECEIVED", obj=result.payment, occurred_at=received_at,
                             ip_address=ip_address,
                             detail={"gateway": gateway.code, "transaction_id": transaction_id,
                                     "paid_at": paid_at.isoformat(), "receipt": result.payment.receipt_number,
                                     "amount_fen": amount_fen})
    except IdempotencyKeyReused as reused:
        raise TransactionConflict(transaction_id=transaction_id, payment=reused.payment) from None
    return result


__all__ = ["CallbackRefused", "Gateway", "GatewayAccountUnknown", "GatewayMisconfigured", "TransactionConflict",
           "find_gateway", "gateway_payment", "gateways", "record_refusal", "transaction_key"]
