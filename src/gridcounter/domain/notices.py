"""Notices to customers: the channels, who a notice can reach, and when a failed delivery is tried again.

Pure rules (no clock, no I/O). The outbox (`application.notices`) keeps each notice as it was written, and
delivers it; see docs/notices.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from gridcounter.domain.registry import is_mobile, normalise_phone

SMS, EMAIL, LETTER = "SMS", "EMAIL", "LETTER"
CHANNELS = (SMS, EMAIL, LETTER)
# A delivery that fails is tried again after 1, 5, 30 minutes, 2 and 6 hours; the sixth failure gives up, so a
# provider that is down for a morning does not lose a notice, and one that refuses a number does not retry forever.
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
               timedelta(hours=6))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
SMS_MAX_CHARS = 500  # a long SMS is sent in up to 7 parts of 70 Chinese characters; longer texts go by letter

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NoticeRefused(ValueError):
    """A notice that cannot be kept: no way to reach the customer on that channel, or an empty text."""

    def __init__(self, code: str, text_zh: str, text_en: str):
        super().__init__(text_en)
        self.code, self.text_zh, self.text_en = code, text_zh, text_en


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str


def sms_number(phone: str) -> str | None:
    """The mobile number an SMS can reach, as the registry keeps phones (domain.registry), or None (a landline)."""
    number = normalise_phone(phone or "")
    return number if is_mobile(number) else None


def recipients(*, phone: str = "", phone_alt: str = "", email: str = "", letter_address: str = "",
               written: bool = False) -> list[Recipient]:
    """Where a notice goes: an SMS to the first mobile number, an e-mail if there is an address, and a letter to the
    premises when the rule asks for a written notice (`written`) or nothing else reaches the customer."""
    out: list[Recipient] = []
    number = sms_number(phone) or sms_number(phone_alt)
    if number:
        out.append(Recipient(SMS, number))
    if email and _EMAIL.match(email.strip()):
        out.append(Recipient(EMAIL, email.strip()))
    if (written or not out) and letter_address.strip():
        out.append(Recipient(LETTER, letter_address.strip()))
    if not out:
        raise NoticeRefused("NO_CONTACT", "客户没有可用的手机号、电子邮箱或用电地址，通知无法送达。",
                            "The customer has no mobile number, e-mail address or premises address to send to.")
    return out


def check_text(channel: str, subject: str, body: str) -> None:
    if channel not in CHANNELS:
        raise NoticeRefused("CHANNEL", f"未知的通知渠道：{channel}", f"Unknown notice channel: {channel}")
    if not body.strip():
        raise NoticeRefused("EMPTY", "通知内容为空。", "The notice has no text.")
    if channel == SMS and len(subject) + len(body) + 1 > SMS_MAX_CHARS:
        raise NoticeRefused("TOO_LONG", f"短信不能超过 {SMS_MAX_CHARS} 个字。",
                            f"An SMS may not be longer than {SMS_MAX_CHARS} characters.")


def next_attempt(*, failed_at: datetime, attempts: int) -> datetime | None:
    """When to try again after the `attempts`-th failure (1-based), or None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return failed_at + RETRY_AFTER[attempts - 1]



# What each kind of notice says, in Chinese and in English: (subject, body) templates.
TEXTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "BILL_SHOCK": (
        ("电费提醒",
         "户号{account}：{period}电费 {amount} 元，比{basis}（{baseline} 元）高 {increase}%。我们正在核对抄表数据，"
         "核实后再发出账单。如有疑问请致电95598，或到本市任一营业厅咨询。"),
        ("Your electricity bill",
         "Account {account}: the {period} bill of {amount} yuan is {increase}% above {basis} ({baseline} yuan). "
         "We are checking the readings before the bill goes out. Questions: call 95598 or visit any service hall "
         "in the city."),
    ),
    "WITHHOLDING_FAILED": (
        ("代扣电费未成功",
         "户号{account}：{bank}未能从尾号{tail}的账户代扣电费 {amount} 元（{reason}）。请通过营业厅、网上缴费等方式缴纳，"
         "或到银行处理后等待下次代扣。如有疑问请致电95598。"),
        ("Bank withholding failed",
         "Account {account}: {bank} could not collect {amount} yuan from the bank account ending {tail} ({reason}). "
         "Please pay at a service hall or online, or see your bank before the next collection. Questions: call "
         "95598."),
    ),
}


def notice_text(kind: str, language: str, **slots) -> tuple[str, str]:
    """The subject and body of a notice of `kind` in `language` ("zh-hans" or "en"), its slots filled; a slot
    given as a (zh, en) pair takes the language's own words."""
    zh, en = TEXTS[kind]
    subject, body = en if language == "en" else zh
    filled = {name: (value[1] if language == "en" else value[0]) if isinstance(value, tuple) else value
              for name, value in slots.items()}
    return subject.format(**filled), body.format(**filled)
