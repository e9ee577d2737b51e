"""A local payment gateway for tests: its configuration with a test secret, and signed callbacks posted to the app.

Signing is gridcounter.domain.gateway_signature's, the rule the endpoint verifies with (and `gridcounter
gateway-callback` signs with). The secret below is a test value, used nowhere else.
"""
from __future__ import annotations

import time
import uuid

from django.utils import timezone

from gridcounter.domain.gateway_signature import callback_body, signed_headers

GATEWAY = "TESTPAY"
SECRET = "test-only-gateway-secret-not-for-production"


def configure(settings, *halls, code: str = GATEWAY, secret: str = SECRET, window: int = 300) -> None:
    """GRIDCOUNTER_PAYMENT_GATEWAYS (pytest-django's `settings`) with one gateway booking at `halls`."""
    settings.GRIDCOUNTER_PAYMENT_GATEWAYS = {
        code: {"secret": secret, "halls": [h.code for h in halls], "replay_window_seconds": window}}


def body(*, account: str, amount: str, transaction_id: str | None = None, paid_at: str | None = None) -> bytes:
    return callback_body(transaction_id=transaction_id or f"t-{uuid.uuid4().hex[:20]}", account=account,
                         amount=amount, paid_at=paid_at or timezone.localtime().isoformat(timespec="seconds"))


def post(client, raw: bytes, *, gateway: str = GATEWAY, secret: str = SECRET, timestamp: int | None = None,
         headers: dict | None = None, language: str = "en"):
    """POST `raw` signed with `secret` at `timestamp` (now); `headers` replaces the signed ones when given."""
    signed = signed_headers(secret=secret, body=raw,
                            timestamp=int(time.time()) if timestamp is None else timestamp)
    sent = signed if headers is None else headers
    return client.post(f"/api/gateways/{gateway}/callbacks", data=raw, content_type="application/json",
                       headers={**sent, "Accept-Language": language}, REMOTE_ADDR="203.0.113.7")
