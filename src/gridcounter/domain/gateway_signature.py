"""The one rule for signing an online-payment gateway's callback (docs/collections.md, "Online payment").

The gateway sends ``X-Gateway-Timestamp: <unix seconds>`` and ``X-Gateway-Signature: <hex HMAC-SHA256>``, the
HMAC keyed with the gateway's shared secret (UTF-8) over ``<timestamp> + "." + <raw body bytes>``. The endpoint
verifies with `verify`, the simulator (`gridcounter gateway-callback`, tests/factories/gateway.py) signs with
`sign`: one rule, one place. Pure: the caller passes the time.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re

TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
DEFAULT_REPLAY_WINDOW_SECONDS = 300
TIMESTAMP_TEXT = "^[0-9]{1,12}$"
SIGNATURE_TEXT = "^[0-9a-f]{64}$"

SIGNATURE_INVALID = "SIGNATURE_INVALID"
STALE_CALLBACK = "STALE_CALLBACK"


class CallbackRefused(Exception):
    """A callback whose signature does not verify (``SIGNATURE_INVALID``) or whose timestamp is outside the replay
    window (``STALE_CALLBACK``); ``reason`` says which check failed, for the log."""

    def __init__(self, code: str, reason: str):
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


def signed_payload(*, timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"." + body


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp + "." + body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), signed_payload(timestamp=timestamp, body=body), hashlib.sha256).hexdigest()


def verify(*, secret: str, timestamp: str | None, signature: str | None, body: bytes, now: int,
           window_seconds: int = DEFAULT_REPLAY_WINDOW_SECONDS) -> int:
    """The callback's timestamp (unix seconds) when its signature verifies and it is within ``window_seconds`` of
    ``now`` either way; else CallbackRefused. The signature is checked first, so a forged request never learns
    whether its timestamp would have passed."""
    if not timestamp:
        raise CallbackRefused(SIGNATURE_INVALID, "timestamp header missing")
    if not signature:
        raise CallbackRefused(SIGNATURE_INVALID, "signature header missing")
    if re.fullmatch(TIMESTAMP_TEXT, timestamp) is None:
        raise CallbackRefused(SIGNATURE_INVALID, "timestamp is not unix seconds")
    expected = sign(secret=secret, timestamp=timestamp, body=body).encode("ascii")
    if not hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace")):
        raise CallbackRefused(SIGNATURE_INVALID, "signature does not match")
    sent = int(timestamp)
    if abs(now - sent) > window_seconds:
        raise CallbackRefused(STALE_CALLBACK, f"timestamp {sent} is {now - sent} s from now (window {window_seconds} s)")
    return sent


def signed_headers(*, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The two headers a gateway sends with ``body`` signed at ``timestamp``."""
    stamp = str(timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret=secret, timestamp=stamp, body=body)}


def callback_body(*, transaction_id: str, account: str, amount: str, paid_at: str) -> bytes:
    """A callback's body as the simulator sends it (compact JSON, UTF-8); any bytes verify, as signed."""
    return json.dumps({"transaction_id": transaction_id, "account": account, "amount": amount, "paid_at": paid_at},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")
