"""The till: the close (日结) against what was booked, a short needing a reason and a supervisor's sign-off, no
payment after the close (web counter and API), the hand-over slip, and every step audited."""
from __future__ import annotations

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from gridcounter.application.ledger import (
    TillClosed,
    TillError,
    business_date,
    close_day,
    hand_over,
    reverse_payment,
    sign_off,
    take_payment,
    till_sheet,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import Payment, TillDay
from gridcounter.domain.business_time import BUSINESS_TZ

pytestmark = pytest.mark.django_db

MORNING = datetime(2026, 3, 2, 9, 30, tzinfo=BUSINESS_TZ)
EVENING = datetime(2026, 3, 2, 17, 30, tzinfo=BUSINESS_TZ)


def _pay(city, fen: int, key: str, *, at=MORNING, channel="CASH"):
    with acting_as(Actor(user=city.clerk, hall=city.east, channel="WEB")):
        return take_payment(account=city.account, amount_fen=fen, channel=channel, hall=city.east, clerk=city.clerk,
                            idempotency_key=key, taken_at=at, at_counter=True).payment


def test_a_short_needs_a_reason_then_waits_for_the_supervisor_and_no_payment_follows(small_city):
    _pay(small_city, 10000, "till-1")
    _pay(small_city, 2500, "till-2", channel="CARD")
    taken_back = _pay(small_city, 5000, "till-3")
    reverse_payment(payment=taken_back, by=small_city.supervisor, reason="typed twice", reversed_at=MORNING)
    day = business_date(MORNING)

    sheet = till_sheet(clerk=small_city.clerk, hall=small_city.east, day=day)
    assert [line.reversed for line in sheet.lines] == [False, False, True]
    assert sheet.booked == {"CASH": 10000, "CARD": 2500}

    counted = {5000: 1, 2000: 2, 500: 1}  # 95 yuan of 100: 5 yuan short
    with pytest.raises(TillError) as no_reason:
        close_day(clerk=small_city.clerk, hall=small_city.east, day=day, cash_counted=counted,
                  non_cash={"CARD": 2500}, reason="", closed_at=EVENING)
    assert no_reason.value.field == "reason"

    till = close_day(clerk=small_city.clerk, hall=small_city.east, day=day, cash_counted=counted,
                     non_cash={"CARD": 2500}, reason="change given twice", closed_at=EVENING)
    assert (till.difference_fen, till.status) == (-500, TillDay.Status.AWAITING_SIGN_OFF)

    with pytest.raises(TillClosed):
        _pay(small_city, 100, "till-after", at=EVENING)
    assert not Payment.objects.filter(idempotency_key="till-after").exists()

    with pytest.raises(TillError):
        sign_off(till=till, supervisor=small_city.clerk, signed_at=EVENING)
    with pytest.raises(TillError):
        sign_off(till=till, supervisor=small_city.other_supervisor, signed_at=EVENING)
    till = sign_off(till=till, supervisor=small_city.supervisor, signed_at=EVENING)
    assert till.status == TillDay.Status.SIGNED_OFF and till.signed_off_by == small_city.supervisor

    till = hand_over(till=till, user=small_city.clerk, slip_number="BOC-0302-17", amount_fen=9500, handed_at=EVENING)
    assert till.bank_slip_number == "BOC-0302-17"
    actions = set(AuditEvent.objects.filter(object_id=str(till.pk)).values_list("action", flat=True))
    assert {"TILL_CLOSED", "TILL_SIGNED_OFF", "TILL_HANDED_OVER"} <= actions


def test_a_balanced_close_needs_no_reason_and_the_counter_and_api_then_refuse_payments(client, small_city):
    client.force_login(small_city.clerk)
    page = client.get(reverse("till"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No payment taken yet today." in page

    response = client.post(reverse("till_close"), {"reason": ""}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "Day closed; the till balances." in response.content.decode()

    api = client.post("/api/payments", {"account": small_city.account.number, "amount": "10.00", "channel": "CASH"},
                      content_type="application/json", HTTP_IDEMPOTENCY_KEY="after-close")
    assert api.status_code == 409 and api.json()["code"] == "TILL_CLOSED"
    assert not Payment.objects.filter(idempotency_key="after-close").exists()


def test_the_closed_tills_table_names_each_payment_method_once(client, small_city):
    now = timezone.now()
    _pay(small_city, 10000, "once-cash", at=now)
    _pay(small_city, 2500, "once-card", at=now, channel="CARD")
    close_day(clerk=small_city.clerk, hall=small_city.east, day=business_date(now), cash_counted={5000: 2},
              non_cash={"CARD": 2500}, reason="", closed_at=now)
    client.force_login(small_city.clerk)

    page = client.get(reverse("till"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    table = page.split('data-testid="close-channels"', 1)[1].split("</table>", 1)[0]
    assert table.count('<th scope="row">Cash</th>') == 1 and table.count('<th scope="row">Bank card</th>') == 1


@pytest.mark.parametrize(("language", "words"), [("en", "Bank card total: enter the total"),
                                                 ("zh-hans", "银行卡合计：请填写")])
def test_a_blank_card_total_is_not_taken_for_zero_when_card_payments_were_booked(client, small_city, language,
                                                                                 words):
    now = timezone.now()
    _pay(small_city, 10000, "blank-cash", at=now)
    _pay(small_city, 2500, "blank-card", at=now, channel="CARD")
    client.force_login(small_city.clerk)

    refused = client.post(reverse("till_close"), {"cash_5000": "2", "noncash_CARD": "", "reason": ""},
                          HTTP_ACCEPT_LANGUAGE=language)
    zero = client.post(reverse("till_close"), {"cash_5000": "2", "noncash_CARD": "0", "reason": "终端未结算"},
                       HTTP_ACCEPT_LANGUAGE=language)

    assert refused.status_code == 400 and words in refused.content.decode()
    assert 'data-testid="noncash-CARD" aria-invalid="true"' in refused.content.decode()
    assert zero.status_code == 302  # 0 typed is a declaration: the day closes 25.00 short, with its reason
    till = TillDay.objects.get(clerk=small_city.clerk)
    assert till.difference_fen == -2500 and till.status == TillDay.Status.AWAITING_SIGN_OFF


def test_a_blank_card_total_is_zero_when_no_card_payment_was_booked(small_city):
    now = timezone.now()
    _pay(small_city, 10000, "cash-only", at=now)

    till = close_day(clerk=small_city.clerk, hall=small_city.east, day=business_date(now), cash_counted={5000: 2},
                     non_cash={"CARD": None}, reason="", closed_at=now)

    assert till.status == TillDay.Status.CLOSED and till.difference_fen == 0
