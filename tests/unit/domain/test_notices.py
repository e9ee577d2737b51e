"""Who a notice can reach, how long a text may be, and when a failed delivery is tried again."""
from datetime import UTC, datetime, timedelta

import pytest

from gridcounter.domain.notices import (
    EMAIL,
    LETTER,
    MAX_ATTEMPTS,
    SMS,
    NoticeRefused,
    Recipient,
    check_text,
    next_attempt,
    notice_text,
    recipients,
    sms_number,
)


@pytest.mark.parametrize(("phone", "number"), [
    ("13800138000", "13800138000"), ("+86 138 0013 8000", "13800138000"), ("8613800138000", "13800138000"),
    ("010-65123456", None), ("", None), ("12800138000", None),
])
def test_an_sms_goes_only_to_a_mobile_number(phone, number):
    assert sms_number(phone) == number


def test_a_landline_customer_is_reached_on_the_second_phone_and_by_email():
    assert recipients(phone="010-65123456", phone_alt="13912345678", email=" li@example.com ",
                      letter_address="示范路 8 号") == [Recipient(SMS, "13912345678"), Recipient(EMAIL, "li@example.com")]


def test_a_written_notice_also_goes_by_letter_and_a_customer_without_mobile_gets_one():
    assert recipients(phone="13800138000", letter_address="示范路 8 号", written=True)[-1] == Recipient(LETTER, "示范路 8 号")
    assert recipients(phone="010-65123456", letter_address="示范路 8 号") == [Recipient(LETTER, "示范路 8 号")]


def test_nobody_to_reach_is_refused_in_both_languages():
    with pytest.raises(NoticeRefused) as refused:
        recipients(phone="", email="not-an-address", letter_address="  ")
    assert refused.value.code == "NO_CONTACT" and "手机号" in refused.value.text_zh and "e-mail" in refused.value.text_en


def test_an_sms_has_a_length_and_every_notice_a_text():
    check_text(SMS, "电费提醒", "字" * 495)
    with pytest.raises(NoticeRefused, match="longer than 500"):
        check_text(SMS, "电费提醒", "字" * 496)
    check_text(LETTER, "停电通知", "字" * 5000)
    with pytest.raises(NoticeRefused, match="no text"):
        check_text(EMAIL, "电费提醒", "  ")


def test_failed_deliveries_wait_longer_each_time_then_give_up():
    failed = datetime(2026, 12, 6, 1, tzinfo=UTC)
    waits = [next_attempt(failed_at=failed, attempts=n) - failed for n in range(1, MAX_ATTEMPTS)]
    assert waits == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                     timedelta(hours=6)]
    assert next_attempt(failed_at=failed, attempts=MAX_ATTEMPTS) is None


def test_the_bill_shock_notice_in_each_language():
    slots = dict(account="1100012345", period="2026-07", amount="512.00", basis=("去年同期", "the same period last year"),
                 baseline="170.00", increase="201.2")
    subject, body = notice_text("BILL_SHOCK", "zh-hans", **slots)
    assert subject == "电费提醒" and "2026-07电费 512.00 元，比去年同期（170.00 元）高 201.2%" in body and "95598" in body
    subject, body = notice_text("BILL_SHOCK", "en", **slots)
    assert "512.00 yuan is 201.2% above the same period last year (170.00 yuan)" in body
