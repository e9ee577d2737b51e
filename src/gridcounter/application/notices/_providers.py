"""How a notice leaves the building: the SMS provider named in settings, and e-mail through the SMTP relay."""
from __future__ import annotations

import logging
import smtplib
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.module_loading import import_string

sms_log = logging.getLogger("gridcounter.notices.sms")


class DeliveryRefused(Exception):
    """The provider refused this notice for good (an unknown number, a refused address): not tried again."""


class SmsProvider(Protocol):
    def send(self, *, number: str, text: str, reference: str) -> str:
        """Send one SMS; return the provider's message id. DeliveryRefused: never retry; any other error: retry."""


class LoggingSmsProvider:
    """The default SMS provider, for a site without an SMS gateway contract: it sends nothing and writes each
    message to the log "gridcounter.notices.sms" (INFO), so that staff can see what would have gone out. Name a
    real provider's class in GRIDCOUNTER_SMS_PROVIDER once there is one (docs/notices.md)."""

    def send(self, *, number: str, text: str, reference: str) -> str:
        sms_log.info("SMS not sent (no SMS gateway configured) to %s****%s, notice %s: %s",
                     number[:3], number[-4:], reference, text)
        return f"logged-{reference}"


def sms_provider() -> SmsProvider:
    return import_string(settings.GRIDCOUNTER_SMS_PROVIDER)()


class SmtpSender:
    """One SMTP connection for a delivery round; each message is sent as it comes."""

    def __init__(self):
        self.connection = get_connection(fail_silently=False)

    def send(self, *, address: str, subject: str, text: str, reference: str) -> str:
        message = EmailMessage(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[address],
                               connection=self.connection, headers={"X-Gridcounter-Notice": reference})
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as refused:
            raise DeliveryRefused(f"the relay refused {address}: {refused.recipients}") from refused
        return message.extra_headers.get("Message-ID", "") or f"smtp-{reference}"

    def close(self) -> None:
        try:
            self.connection.close()
        except (OSError, smtplib.SMTPException):
            pass
