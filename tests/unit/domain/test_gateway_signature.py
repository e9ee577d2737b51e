"""The gateway callback's signature rule: the documented example, and every way a callback fails to verify."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcounter.application.ledger import GatewayMisconfigured, gateways
from gridcounter.domain.gateway_signature import CallbackRefused, callback_body, sign, signed_headers, verify

DOCS = Path(__file__).resolve().parents[3] / "docs" / "collections.md"
SECRET = "test-only-gateway-secret-not-for-production"
NOW = 1796264100


def test_the_worked_example_in_the_docs_is_what_sign_gives():
    docs = DOCS.read_text(encoding="utf-8")
    body = callback_body(transaction_id="TX-20261203-0001", account="1100012345", amount="180.80",
                         paid_at="2026-12-03T10:15:00+08:00")
    signature = sign(secret=SECRET, timestamp=str(NOW), body=body)

    assert body.decode() in docs
    assert re.search(rf"SHA2-256\(stdin\)= {signature}\b", docs)


def test_a_signed_callback_verifies_within_the_window_either_way():
    body = b'{"a":1}'
    headers = signed_headers(secret=SECRET, body=body, timestamp=NOW)

    for now in (NOW - 300, NOW, NOW + 300):
        assert verify(secret=SECRET, timestamp=headers["X-Gateway-Timestamp"],
                      signature=headers["X-Gateway-Signature"], body=body, now=now) == NOW


@pytest.mark.parametrize("now", [NOW - 301, NOW + 301])
def test_outside_the_window_is_stale(now):
    headers = signed_headers(secret=SECRET, body=b"{}", timestamp=NOW)

    with pytest.raises(CallbackRefused) as refused:
        verify(secret=SECRET, timestamp=headers["X-Gateway-Timestamp"], signature=headers["X-Gateway-Signature"],
               body=b"{}", now=now)
    assert refused.value.code == "STALE_CALLBACK"


@pytest.mark.parametrize("timestamp, signature", [(None, "ab"), (str(NOW), None), ("", ""), ("-1", "ab"),
                                                  ("１７９６", "ab"), (str(NOW), "签名")])
def test_missing_or_malformed_headers_are_an_invalid_signature(timestamp, signature):
    with pytest.raises(CallbackRefused) as refused:
        verify(secret=SECRET, timestamp=timestamp, signature=signature, body=b"{}", now=NOW)
    assert refused.value.code == "SIGNATURE_INVALID"


@given(body=st.binary(max_size=200), flip=st.integers(min_value=0, max_value=10_000))
def test_any_changed_byte_of_the_body_breaks_the_signature(body, flip):
    signature = sign(secret=SECRET, timestamp=str(NOW), body=body)
    altered = bytearray(body or b"x")
    altered[flip % len(altered)] ^= 0x01
    with pytest.raises(CallbackRefused) as refused:
        verify(secret=SECRET, timestamp=str(NOW), signature=signature, body=bytes(altered), now=NOW)
    assert refused.value.code == "SIGNATURE_INVALID"


def test_a_stale_forgery_is_told_only_that_it_is_forged():
    with pytest.raises(CallbackRefused) as refused:
        verify(secret=SECRET, timestamp=str(NOW - 10_000), signature="0" * 64, body=b"{}", now=NOW)
    assert refused.value.code == "SIGNATURE_INVALID"


@pytest.mark.parametrize("configured, words", [
    ({"bad code!": {"secret": SECRET, "halls": ["H"]}}, "gateway code"),
    ({"PAY": {"secret": "short", "halls": ["H"]}}, "secret"),
    ({"PAY": {"secret": SECRET, "halls": []}}, "halls"),
    ({"PAY": {"secret": SECRET, "halls": ["H"], "replay_window_seconds": 0}}, "replay_window_seconds"),
])
def test_a_misconfigured_gateway_is_named_without_its_secret(settings, configured, words):
    settings.GRIDCOUNTER_PAYMENT_GATEWAYS = configured

    with pytest.raises(GatewayMisconfigured, match=words) as refused:
        gateways()
    assert SECRET not in str(refused.value)


def test_a_gateway_never_shows_its_secret(settings):
    settings.GRIDCOUNTER_PAYMENT_GATEWAYS = {"PAY": {"secret": SECRET, "halls": ["H"]}}

    assert SECRET not in repr(gateways()["PAY"]) and SECRET not in str(gateways())
