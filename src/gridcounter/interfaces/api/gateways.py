"""Online payment gateways' callbacks: POST /gateways/{gateway}/callbacks, signed, server to server.

No session and no CSRF: the gateway's HMAC signature (gridcounter.domain.gateway_signature) is the only credential,
and a staff session grants nothing here. docs/collections.md, "Online payment", has the scheme and an example.
"""
from __future__ import annotations

import ipaddress
import json
import time

import pydantic
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Path, Router, Schema, Status
from ninja.errors import ValidationError

from gridcounter.application.ledger import (
    GATEWAY_CODE_TEXT,
    TRANSACTION_ID_TEXT,
    CallbackRefused,
    GatewayAccountUnknown,
    TransactionConflict,
    find_gateway,
    gateway_payment,
    record_refusal,
)
from gridcounter.domain.gateway_signature import (
    SIGNATURE_HEADER,
    SIGNATURE_INVALID,
    SIGNATURE_TEXT,
    TIMESTAMP_HEADER,
    TIMESTAMP_TEXT,
)
from gridcounter.interfaces.api.contract import AmountFen, ReadAt, answers, error, text
from gridcounter.interfaces.api.payments import PaymentOut, _payment_out

router = Router(tags=["gateways"], auth=None)


class GatewayCallbackIn(Schema):
    transaction_id: str = Field(..., min_length=1, max_length=48, pattern=TRANSACTION_ID_TEXT,
                                description="the gateway's own transaction id, A-Z a-z 0-9 _ . : -; it books once")
    account: str = text(min_length=1, max_length=32, description="account number (户号)")
    amount: AmountFen
    paid_at: ReadAt


def _signature_messages() -> dict:
    return {
        SIGNATURE_INVALID: _("The callback is not signed with this gateway's secret: send X-Gateway-Timestamp and "
                             "X-Gateway-Signature, the hex HMAC-SHA256 of the timestamp, a point and the raw body."),
        "STALE_CALLBACK": _("The callback's timestamp is outside the replay window; sign it again with the current "
                            "time."),
    }


def _client_ip(request) -> str | None:
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _parse(raw: bytes) -> GatewayCallbackIn:
    """The body by the document's schema; refusals as every other operation's 422 (contract.validation_refused)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError([{"type": "INVALID_JSON", "loc": ("body",),
                                "msg": _("The request body is not valid JSON.")}]) from None
    try:
        return GatewayCallbackIn.model_validate(data)
    except pydantic.ValidationError as invalid:
        raise ValidationError([{**e, "loc": ("body", "payload", *e["loc"])} for e in invalid.errors()]) from None


CALLBACK_DOC = {
    "parameters": [
        {"in": "header", "name": TIMESTAMP_HEADER, "required": True,
         "schema": {"type": "string", "pattern": TIMESTAMP_TEXT},
         "description": "unix seconds when the gateway signed the callback; within the gateway's replay window "
                        "(default 300 s) of the server's clock, either way"},
        {"in": "header", "name": SIGNATURE_HEADER, "required": True,
         "schema": {"type": "string", "pattern": SIGNATURE_TEXT},
         "description": "hex HMAC-SHA256, keyed with the gateway's shared secret, of "
                        "<X-Gateway-Timestamp> + \".\" + <the raw request body>"},
    ],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": GatewayCallbackIn.model_json_schema()}}},
}


@router.post("/gateways/{gateway}/callbacks",
             response=answers({200: PaymentOut, 201: PaymentOut}, 401, 404, 409, 503, signed_in=False),
             openapi_extra=CALLBACK_DOC,
             summary="An online payment gateway's signed callback: an ONLINE payment, booked once per transaction id")
def gateway_callback(request, gateway: str = Path(..., min_length=1, max_length=16, pattern=GATEWAY_CODE_TEXT)):
    """201 booked; 200 the same transaction again (``replayed``: the first payment, nothing booked twice).
    401 SIGNATURE_INVALID (a header missing, another secret, an altered body), 401 STALE_CALLBACK (the timestamp
    outside the replay window, past or future), 404 GATEWAY_UNKNOWN, 404 ACCOUNT_NOT_FOUND (no such account in a city
    the gateway serves), 409 TRANSACTION_CONFLICT (the transaction id already booked with another account or
    amount), 422 when the signed body is not this document's. Each refusal is logged with the gateway, the reason
    and the client's IP."""
    ip = _client_ip(request)
    timestamp, signature = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:  # unsigned: refused before anything is looked up
        record_refusal(gateway=gateway, code=SIGNATURE_INVALID, reason="signature or timestamp header missing",
                       ip_address=ip)
        return error(401, SIGNATURE_INVALID, _signature_messages()[SIGNATURE_INVALID])
    configured = find_gateway(gateway)
    if configured is None:
        record_refusal(gateway=gateway, code="GATEWAY_UNKNOWN", reason="no such gateway configured", ip_address=ip)
        return error(404, "GATEWAY_UNKNOWN", _("No payment gateway %(gateway)s.") % {"gateway": gateway}, "gateway")
    raw = request.body
    try:
        configured.verify(timestamp=timestamp, signature=signature, body=raw, now=int(time.time()))
    except CallbackRefused as refused:
        record_refusal(gateway=gateway, code=refused.code, reason=refused.reason, ip_address=ip)
        return error(401, refused.code, _signature_messages()[refused.code])
    try:
        payload = _parse(raw)
    except ValidationError as invalid:
        first = invalid.errors[0]
        record_refusal(gateway=gateway, code="INVALID_REQUEST", reason=f"{first.get('type')} at "
                       f"{'.'.join(str(p) for p in first.get('loc', ()))}", ip_address=ip)
        raise
    try:
        result = gateway_payment(gateway=configured, transaction_id=payload.transaction_id,
                                 account_number=payload.account, amount_fen=payload.amount, paid_at=payload.paid_at,
                                 received_at=timezone.now(), ip_address=ip)
    except GatewayAccountUnknown as unknown:
        record_refusal(gateway=gateway, code="ACCOUNT_NOT_FOUND", reason="no such account in the gateway's cities",
                       ip_address=ip, transaction_id=payload.transaction_id)
        return error(404, "ACCOUNT_NOT_FOUND", unknown, "account")
    except TransactionConflict as conflict:
        record_refusal(gateway=gateway, code="TRANSACTION_CONFLICT",
                       reason=f"already booked as {conflict.payment.receipt_number} with another account or amount",
                       ip_address=ip, transaction_id=payload.transaction_id)
        return error(409, "TRANSACTION_CONFLICT", conflict, "transaction_id")
    body = _payment_out(result.payment, allocations=result.allocations, replayed=result.replayed,
                        balance=result.balance_fen)
    return Status(200 if result.replayed else 201, body)
