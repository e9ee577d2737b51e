"""Notices to customers: queued with what they tell, delivered by SMS, e-mail or letter (docs/notices.md)."""
from gridcounter.application.notices._outbox import (
    CLAIM_EXPIRES,
    DeliveryReport,
    LetterRefused,
    NoticeText,
    deliver_notices,
    notices_of,
    queue_notice,
    queue_notices,
    record_delivery,
)
from gridcounter.application.notices._providers import DeliveryRefused, LoggingSmsProvider, SmsProvider

__all__ = ["CLAIM_EXPIRES", "DeliveryRefused", "DeliveryReport", "LetterRefused", "LoggingSmsProvider",
           "NoticeText", "SmsProvider", "deliver_notices", "notices_of", "queue_notice", "queue_notices",
           "record_delivery"]
