"""Who may reverse a payment (`application.ledger.reversal_kind`): the clerk who took it, the same open day at their
hall; anyone else only a supervisor of the account's city, with a reason; what a reversal after the close does to
the till; and the audit of each."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from gridcounter.application.ledger import (
    InvalidAmount,
    ReasonRequired,
    ReversalNotAllowed,
    TillError,
    balance_fen,
    business_date,
    close_day,
    reverse_payment,
    take_payment,
    till_sheet,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import Payment, Reversal, TillDay
from gridcounter.data.org.models import Role
from tests.factories import cities, org
from tests.factories.billing import AT  # 16:30 in Shanghai, 2026-03-31

pytestmark = pytest.mark.django_db

NEXT_DAY = AT + timedelta(days=1)


def pay(world, fen: int, key: str, *, clerk=None, hall=None, at=AT, channel="CASH", tendered=None) -> Payment:
    clerk, hall = clerk or world.clerk, hall or world.binjiang
    with acting_as(Actor(user=clerk, hall=hall, channel="WEB")):
        return take_payment(account=world.account, amount_fen=fen, channel=channel, hall=hall, clerk=clerk,
                            idempotency_key=key, taken_at=at, at_counter=True, cash_tendered_fen=tendered).payment


def close(world, clerk, hall, *, at=AT, cash: dict[int, int] | None = None, card_fen: int = 0, reason=""):
    return close_day(clerk=clerk, hall=hall, day=business_date(at), cash_counted=cash or {},
                     non_cash={"CARD": card_fen} if card_fen else {}, reason=reason, closed_at=at + timedelta(hours=1))


def refused(payment, by, *, at=AT, reason="wrong amount") -> ReversalNotAllowed:
    with translation.override("en"), pytest.raises(ReversalNotAllowed) as refusal:
        reverse_payment(payment=payment, by=by, reason=reason, reversed_at=at)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.POSTED  # nothing reversed
    return refusal.value


@pytest.fixture
def second_clerk(two_cities):
    return org.staff("hz.clerk2", hall=two_cities.binjiang, roles=(Role.Code.CLERK,))


def test_a_clerk_reverses_their_own_payment_of_the_same_open_day_with_a_reason_and_it_is_audited(two_cities):
    payment = pay(two_cities, 5000, "own-1")

    result = reverse_payment(payment=payment, by=two_cities.clerk, reason="Wrong amount",
                             reversed_at=AT + timedelta(minutes=5))

    assert result.reversal.kind == Reversal.Kind.CLERK_SAME_DAY and not result.reversal.after_close
    assert result.reversal.reversed_by == two_cities.clerk
    assert balance_fen(two_cities.account) == 0
    event = AuditEvent.objects.get(action="PAYMENT_REVERSED", object_id=str(payment.pk))
    assert (event.username, event.hall_id, event.reason) == ("hz.clerk", two_cities.binjiang.pk, "Wrong amount")
    assert event.detail["kind"] == "CLERK_SAME_DAY" and event.detail["clerk_own_same_day"] is True
    assert event.detail["hall"] == "HZ02" and event.detail["taken_by"] == "hz.clerk"


def test_a_clerks_own_reversal_needs_a_reason_too(two_cities):
    payment = pay(two_cities, 5000, "own-2")
    with pytest.raises(ReasonRequired):
        reverse_payment(payment=payment, by=two_cities.clerk, reason="   ", reversed_at=AT)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.POSTED


def test_a_clerk_may_not_reverse_another_clerks_payment(two_cities, second_clerk):
    payment = pay(two_cities, 5000, "other-1", clerk=second_clerk)
    refusal = refused(payment, two_cities.clerk)
    assert refusal.code == "NOT_YOURS"
    assert "another clerk took it" in str(refusal) and "supervisor" in str(refusal)


def test_a_clerk_may_not_reverse_their_own_payment_of_the_day_before(two_cities):
    payment = pay(two_cities, 5000, "old-1")
    refusal = refused(payment, two_cities.clerk, at=NEXT_DAY)
    assert refusal.code == "NOT_TODAY" and "2026-03-31" in str(refusal)


def test_a_clerk_may_not_reverse_once_their_day_is_closed(two_cities):
    payment = pay(two_cities, 5000, "closed-1")
    close(two_cities, two_cities.clerk, two_cities.binjiang, cash={5000: 1})
    refusal = refused(payment, two_cities.clerk, at=AT + timedelta(hours=2))
    assert refusal.code == "DAY_CLOSED" and "closed" in str(refusal)


def test_a_clerk_moved_to_another_hall_may_not_reverse_what_they_took_at_the_first(two_cities):
    payment = pay(two_cities, 5000, "hall-1")
    two_cities.clerk.hall = two_cities.west_lake
    two_cities.clerk.save(update_fields=["hall"])
    assert refused(payment, two_cities.clerk).code == "OTHER_HALL"


def test_the_rules_speak_chinese(two_cities, second_clerk):
    payment = pay(two_cities, 5000, "zh-1", clerk=second_clerk)
    with translation.override("zh-hans"), pytest.raises(ReversalNotAllowed) as refusal:
        reverse_payment(payment=payment, by=two_cities.clerk, reason="x", reversed_at=AT)
    assert "其他收费员" in str(refusal.value)


def test_a_supervisor_reverses_an_older_payment_with_a_reason_but_not_without(two_cities):
    payment = pay(two_cities, 5000, "sup-1")
    with pytest.raises(ReasonRequired):
        reverse_payment(payment=payment, by=two_cities.supervisor, reason="", reversed_at=NEXT_DAY)

    result = reverse_payment(payment=payment, by=two_cities.supervisor, reason="customer's bank recalled it",
                             reversed_at=NEXT_DAY)

    assert result.reversal.kind == Reversal.Kind.SUPERVISOR
    assert result.reversal.reversed_date == business_date(NEXT_DAY)
    event = AuditEvent.objects.get(action="PAYMENT_REVERSED", object_id=str(payment.pk))
    assert event.detail["clerk_own_same_day"] is False and event.detail["reversed_by"] == "hz.supervisor"
    assert event.detail["hall"] == "HZ01" and event.reason == "customer's bank recalled it"


def test_another_citys_supervisor_is_refused(two_cities):
    payment = pay(two_cities, 5000, "nb-1")
    refusal = refused(payment, two_cities.ningbo_supervisor)
    assert refusal.code == "OTHER_CITY" and "Hangzhou" in str(refusal)


def test_a_reader_is_told_a_supervisor_is_needed(two_cities):
    payment = pay(two_cities, 5000, "reader-1")
    assert refused(payment, two_cities.reader).code == "SUPERVISOR_REQUIRED"


def test_a_replayed_reversal_returns_the_first_even_the_next_day(two_cities):
    payment = pay(two_cities, 5000, "replay-1")
    first = reverse_payment(payment=payment, by=two_cities.clerk, reason="Wrong account", reversed_at=AT)

    again = reverse_payment(payment=payment, by=two_cities.clerk, reason="Wrong account", reversed_at=NEXT_DAY)
    by_supervisor = reverse_payment(payment=payment, by=two_cities.supervisor, reason="again", reversed_at=NEXT_DAY)

    assert again.replayed and again.reversal.pk == first.reversal.pk
    assert by_supervisor.replayed and by_supervisor.reversal.reversed_by == two_cities.clerk
    assert AuditEvent.objects.filter(action="PAYMENT_REVERSED", object_id=str(payment.pk)).count() == 1


def test_a_reversed_cash_payment_is_not_expected_in_the_drawer(two_cities):
    pay(two_cities, 10000, "drawer-1")
    taken_back = pay(two_cities, 5000, "drawer-2")
    reverse_payment(payment=taken_back, by=two_cities.clerk, reason="Customer changed their mind", reversed_at=AT)

    sheet = till_sheet(clerk=two_cities.clerk, hall=two_cities.binjiang, day=business_date(AT))
    assert [line.reversed for line in sheet.lines] == [False, True]
    assert sheet.expected_cash_fen == 10000

    till = close(two_cities, two_cities.clerk, two_cities.binjiang, cash={10000: 1})
    assert (till.status, till.difference_fen) == (TillDay.Status.CLOSED, 0)


def test_a_supervisors_reversal_after_the_close_leaves_the_closed_day_and_counts_in_their_own_till(two_cities):
    day = business_date(AT)
    payment = pay(two_cities, 5000, "late-1")
    closed = close(two_cities, two_cities.clerk, two_cities.binjiang, cash={5000: 1})

    result = reverse_payment(payment=payment, by=two_cities.supervisor, reason="wrong account",
                             reversed_at=NEXT_DAY)

    assert result.reversal.after_close
    closed.refresh_from_db()
    assert (closed.booked, closed.difference_fen, closed.status) == ({"CASH": 5000}, 0, TillDay.Status.CLOSED)
    old_sheet = till_sheet(clerk=two_cities.clerk, hall=two_cities.binjiang, day=day)
    assert old_sheet.booked == {"CASH": 5000} and old_sheet.lines[0].reversed_after_close

    # the money belonged to another account: the supervisor books it there the next day at West Lake. No new cash
    # comes into that drawer, and none is expected: the post-close reversal takes the 50 yuan out again
    right_account = cities.customer_account(city=two_cities.hangzhou, home_hall=two_cities.west_lake)
    with acting_as(Actor(user=two_cities.supervisor, hall=two_cities.west_lake, channel="WEB")):
        take_payment(account=right_account, amount_fen=5000, channel="CASH", hall=two_cities.west_lake,
                     clerk=two_cities.supervisor, idempotency_key="late-1-rebooked", taken_at=NEXT_DAY,
                     at_counter=True)
    today = business_date(NEXT_DAY)
    sheet = till_sheet(clerk=two_cities.supervisor, hall=two_cities.west_lake, day=today)
    assert [r.payment.receipt_number for r in sheet.post_close] == [payment.receipt_number]
    assert (sheet.booked_cash_fen, sheet.expected_cash_fen) == (5000, 0)
    till = close(two_cities, two_cities.supervisor, two_cities.west_lake, at=NEXT_DAY, cash={})
    assert (till.status, till.difference_fen, till.post_close_reversals) == (TillDay.Status.CLOSED, 0, {"CASH": 5000})


def test_a_reversal_after_the_close_is_refused_when_the_reversers_own_till_is_closed_too(two_cities):
    payment = pay(two_cities, 5000, "late-2")
    close(two_cities, two_cities.clerk, two_cities.binjiang, cash={5000: 1})
    close(two_cities, two_cities.supervisor, two_cities.west_lake, at=NEXT_DAY)
    assert refused(payment, two_cities.supervisor, at=NEXT_DAY + timedelta(hours=2)).code == "DAY_CLOSED"


def test_a_supervisors_same_day_reversal_of_an_open_day_comes_out_of_the_clerks_till(two_cities):
    payment = pay(two_cities, 5000, "sameday-1")
    result = reverse_payment(payment=payment, by=two_cities.supervisor, reason="counterfeit note", reversed_at=AT)
    assert not result.reversal.after_close
    assert till_sheet(clerk=two_cities.clerk, hall=two_cities.binjiang, day=business_date(AT)).expected == {}


def test_each_channel_is_compared_on_its_own(two_cities):
    pay(two_cities, 5000, "ch-1")
    pay(two_cities, 5000, "ch-2", channel="CARD")
    with pytest.raises(TillError) as uneven:  # 5 yuan short in cash, 5 over on the card: not a balanced till
        close(two_cities, two_cities.clerk, two_cities.binjiang, cash={2000: 2, 500: 1}, card_fen=5500)
    assert uneven.value.field == "reason"
    till = close(two_cities, two_cities.clerk, two_cities.binjiang, cash={2000: 2, 500: 1}, card_fen=5500,
                 reason="card slip keyed 5 yuan too high")
    assert (till.difference_fen, till.status) == (0, TillDay.Status.AWAITING_SIGN_OFF)


def test_the_cash_tendered_is_kept_with_the_payment(two_cities):
    payment = pay(two_cities, 13184, "tender-1", tendered=20000)
    payment.refresh_from_db()
    assert (payment.cash_tendered_fen, payment.change_given_fen) == (20000, 6816)
    with pytest.raises(InvalidAmount):
        pay(two_cities, 13184, "tender-2", tendered=10000)
    with pytest.raises(InvalidAmount):
        pay(two_cities, 13184, "tender-3", tendered=20000, channel="CARD")
    assert not Payment.objects.filter(idempotency_key__in=["tender-2", "tender-3"]).exists()
