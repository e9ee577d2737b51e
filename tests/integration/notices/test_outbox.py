"""The notice outbox end to end: queued once with what it tells, sent by SMS (logged) and by e-mail through a real
SMTP server, tried again when the relay is down, given up after the last attempt, and letters delivered with proof."""
import json
import socket
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from gridcounter.application.notices import (
    CLAIM_EXPIRES,
    LetterRefused,
    NoticeText,
    deliver_notices,
    queue_notice,
    record_delivery,
)
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.notices.models import Notice
from gridcounter.data.org.models import Role
from gridcounter.domain.notices import MAX_ATTEMPTS, RETRY_AFTER
from tests.factories import org, registry

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


class Inbox:
    """An SMTP server's handler that keeps what it receives and refuses the addresses it is told to."""

    def __init__(self):
        self.messages, self.refuse = [], set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def customer():
    city = org.city(company=org.company(code="GC", name="示范供电公司"), code="SF", name="示范市")
    hall = org.hall(city=city, code="SF-E", name="城东营业厅")
    return registry.account(city=city, hall=hall, number="3100000001", name="王小明", address="示范路 8 号",
                            phone="+86 138 0013 8000")


def text(account, *, source_id="1", email="", written=False, kind="BILL_SHOCK"):
    return NoticeText(account=account, kind=kind, subject="电费提醒", body="户号3100000001：本期电费 512.00 元。",
                      source_type="billing.Bill", source_id=source_id, email=email, written=written)


def test_an_sms_is_queued_once_and_sent_through_the_provider(customer, caplog):
    queued = queue_notice(text(customer), created_at=NOW)
    again = queue_notice(text(customer), created_at=NOW + timedelta(minutes=5))  # a retried run: nothing twice

    assert [(n.channel, n.recipient, n.status) for n in queued] == [("SMS", "13800138000", "QUEUED")]
    assert again == [] and Notice.objects.count() == 1
    with caplog.at_level("INFO", logger="gridcounter.notices.sms"):
        report = deliver_notices(now=NOW)
    notice = Notice.objects.get()
    assert report.sent == 1 and notice.status == "SENT" and notice.sent_at == NOW and notice.attempts == 1
    assert notice.provider_ref == f"logged-{notice.pk}"
    assert "138****8000" in caplog.text and "【电费提醒】户号3100000001：本期电费 512.00 元。" in caplog.text
    assert "13800138000" not in caplog.text  # the log shows the number masked
    assert deliver_notices(now=NOW + timedelta(hours=1)).sent == 0  # sent once


def test_an_email_reaches_a_real_smtp_server(customer, smtp):
    queue_notice(text(customer, email="wang@example.com"), created_at=NOW)

    report = deliver_notices(now=NOW)

    assert report.sent == 2  # the SMS and the e-mail
    [(to, content)] = smtp.messages
    assert to == ["wang@example.com"]
    assert "Subject: =?utf-8?" in content and "X-Gridcounter-Notice:" in content
    email = Notice.objects.get(channel="EMAIL")
    assert email.status == "SENT" and email.provider_ref


def test_a_relay_that_is_down_is_tried_again_then_given_up(customer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens there
    [_, email] = queue_notice(text(customer, email="wang@example.com"), created_at=NOW)

    first = deliver_notices(now=NOW)
    email.refresh_from_db()
    assert first.sent == 1 and first.retrying == 1  # the SMS went; the e-mail waits
    assert email.status == "QUEUED" and email.attempts == 1 and email.next_attempt_at == NOW + RETRY_AFTER[0]
    assert "ConnectionRefusedError" in email.last_error
    assert deliver_notices(now=NOW + timedelta(seconds=30)).retrying == 0  # not before its time

    at = NOW
    for _ in range(2, MAX_ATTEMPTS + 1):
        at = email.next_attempt_at
        deliver_notices(now=at)
        email.refresh_from_db()
    assert email.status == "FAILED" and email.attempts == MAX_ATTEMPTS and email.next_attempt_at is None
    failed = AuditEvent.objects.get(action="NOTICE_FAILED", object_id=str(email.pk))
    assert failed.detail["attempts"] == MAX_ATTEMPTS and failed.occurred_at == at


def test_an_address_the_relay_refuses_is_not_tried_again(customer, smtp):
    smtp.refuse.add("nobody@example.com")
    queue_notice(text(customer, email="nobody@example.com"), created_at=NOW)

    report = deliver_notices(now=NOW)

    email = Notice.objects.get(channel="EMAIL")
    assert report.failed == 1 and email.status == "FAILED" and email.attempts == 1
    assert "refused nobody@example.com" in email.last_error and smtp.messages == []


def test_a_notice_claimed_by_a_killed_delivery_goes_back_to_the_queue(customer):
    [sms] = queue_notice(text(customer), created_at=NOW)
    Notice.objects.filter(pk=sms.pk).update(status="SENDING", next_attempt_at=NOW)  # killed after claiming it

    assert deliver_notices(now=NOW + timedelta(minutes=1)).sent == 0  # another delivery may still be sending it
    report = deliver_notices(now=NOW + CLAIM_EXPIRES + timedelta(minutes=1))

    assert report.reclaimed == 1 and report.sent == 1
    assert Notice.objects.get().status == "SENT"


def test_a_written_notice_goes_by_letter_and_is_delivered_with_its_proof(customer):
    clerk = org.staff("clerk.notice", hall=customer.home_hall, roles=(Role.Code.CLERK,))
    queued = queue_notice(text(customer, written=True, kind="DISCONNECTION_NOTICE"), created_at=NOW)
    letter = next(n for n in queued if n.channel == "LETTER")

    assert letter.recipient == "示范路 8 号"
    assert deliver_notices(now=NOW).letters_waiting == 1  # printed and carried by staff, not sent
    with pytest.raises(LetterRefused) as refused:
        record_delivery(notice=letter, delivered_at=NOW, proof="  ", by=clerk)
    assert refused.value.code == "PROOF_REQUIRED"

    record_delivery(notice=letter, delivered_at=NOW + timedelta(hours=3), proof="签收单 0042", by=clerk)

    letter.refresh_from_db()
    assert (letter.status, letter.delivery_proof, letter.delivered_by) == ("DELIVERED", "签收单 0042", clerk)
    event = AuditEvent.objects.get(action="NOTICE_DELIVERED", object_id=str(letter.pk))
    assert event.username == "clerk.notice" and event.detail["proof"] == "签收单 0042"
    with pytest.raises(LetterRefused) as twice:
        record_delivery(notice=letter, delivered_at=NOW + timedelta(hours=4), proof="again", by=clerk)
    assert twice.value.code == "ALREADY_DELIVERED"


def test_a_customer_without_a_contact_is_named_for_staff(customer):
    customer.customer.phone = "010-6512 3456"  # a landline: no SMS
    customer.customer.save()
    customer.premise.address = " "
    customer.premise.save()

    assert queue_notice(text(customer), created_at=NOW) == []

    event = AuditEvent.objects.get(action="NOTICE_UNDELIVERABLE")
    assert event.detail["code"] == "NO_CONTACT" and event.object_id == str(customer.pk)


def test_the_command_delivers_and_reports_as_json(customer):
    queue_notice(text(customer), created_at=NOW)
    out = StringIO()

    call_command("deliver_notices", "--json", "--now", "2026-12-06T09:00:00+08:00", stdout=out)

    report = json.loads(out.getvalue())
    assert report["sent"] == 1 and report["retrying"] == 0 and report["failed"] == 0
