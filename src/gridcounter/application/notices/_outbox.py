"""The outbox: notices queued with the change that causes them, and delivered by `deliver_notices`.

A notice is written in the same transaction as what it tells (a bill, a request step), once per source and channel
(`Notice.key`), with its text as the customer will read it. Delivery is at least once: a notice is claimed
(SENDING), sent outside any transaction, then marked SENT or given its next attempt; a claim left by a killed
delivery goes back to the queue after CLAIM_EXPIRES. Letters are printed and delivered by staff, who record the
proof (`record_delivery`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from gridcounter.application.notices._providers import DeliveryRefused, SmtpSender, sms_provider
from gridcounter.data.audit.events import record_event
from gridcounter.data.notices.models import Notice
from gridcounter.data.registry.models import Account
from gridcounter.domain import notices as rules

log = logging.getLogger("gridcounter.notices")
CLAIM_EXPIRES = timedelta(minutes=15)


@dataclass(frozen=True)
class NoticeText:
    """What to tell one account: the kind (BILL_SHOCK, METER_EXCHANGE, …), the text, and what it is about."""

    account: Account
    kind: str
    subject: str
    body: str
    source_type: str = ""
    source_id: str = ""
    written: bool = False  # the rule asks for a written notice: a letter to the premises as well
    not_before: datetime | None = None
    email: str = ""  # an e-mail address the source knows (a key account's contact, an applicant's)


def queue_notices(texts: list[NoticeText], *, created_at: datetime) -> list[Notice]:
    """Queue each text to every way its customer can be reached (domain.notices.recipients); a text already
    queued for that source and channel is not queued again. Returns the notices queued now. An account whose
    customer cannot be reached gets an audit event NOTICE_UNDELIVERABLE instead (staff see it), once."""
    if not texts:
        return []
    accounts = {a.pk: a for a in Account.objects.filter(pk__in={t.account.pk for t in texts})
                .select_related("customer", "premise")}
    rows: list[Notice] = []
    for text in texts:
        account = accounts[text.account.pk]
        try:
            to = rules.recipients(phone=account.customer.phone, phone_alt=account.customer.phone_alt,
                                  email=text.email, letter_address=account.premise.address, written=text.written)
        except rules.NoticeRefused as refused:
            record_event(action="NOTICE_UNDELIVERABLE", obj=account, occurred_at=created_at,
                         detail={"kind": text.kind, "code": refused.code, "source_type": text.source_type,
                                 "source_id": text.source_id})
            continue
        for recipient in to:
            rules.check_text(recipient.channel, text.subject, text.body)
            rows.append(Notice(
                city_id=account.city_id, account=account, kind=text.kind, channel=recipient.channel,
                recipient=recipient.address, subject=text.subject, body=text.body,
                source_type=text.source_type, source_id=text.source_id,
                key=f"{text.kind}:{text.source_type}:{text.source_id or account.pk}:{recipient.channel}",
                created_at=created_at, not_before=text.not_before or created_at))
    if not rows:
        return []
    existing = set(Notice.objects.filter(key__in=[r.key for r in rows]).values_list("key", flat=True))
    new = [r for r in rows if r.key not in existing]
    with transaction.atomic():
        Notice.objects.bulk_create(new, ignore_conflicts=True)
    return list(Notice.objects.filter(key__in=[r.key for r in new]).order_by("pk"))


def queue_notice(text: NoticeText, *, created_at: datetime) -> list[Notice]:
    return queue_notices([text], created_at=created_at)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    reclaimed: int = 0
    letters_waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "reclaimed": self.reclaimed,
                "letters_waiting": self.letters_waiting, "errors": self.errors[:20]}


def _due(now: datetime):
    return (Notice.objects.filter(status=Notice.Status.QUEUED, not_before__lte=now)
            .exclude(channel=Notice.Channel.LETTER)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))


def deliver_notices(*, now: datetime, limit: int = 1000) -> DeliveryReport:
    """Send the SMS and e-mails that are due at `now` (at most `limit`); returns what became of them."""
    report = DeliveryReport()
    # claims older than CLAIM_EXPIRES belong to a delivery that was killed mid-way: back to the queue
    report.reclaimed = Notice.objects.filter(status=Notice.Status.SENDING, next_attempt_at__lt=now - CLAIM_EXPIRES
                                             ).update(status=Notice.Status.QUEUED)
    sms, smtp = None, None
    try:
        for notice in _due(now).order_by("not_before", "pk")[:limit]:
            claimed = Notice.objects.filter(pk=notice.pk, status=Notice.Status.QUEUED,
                                            attempts=notice.attempts).update(status=Notice.Status.SENDING,
                                                                             next_attempt_at=now)
            if not claimed:  # another delivery took it
                continue
            reference = str(notice.pk)
            try:
                if notice.channel == Notice.Channel.SMS:
                    sms = sms or sms_provider()
                    ref = sms.send(number=notice.recipient, text=f"【{notice.subject}】{notice.body}",
                                   reference=reference)
                else:
                    smtp = smtp or SmtpSender()
                    ref = smtp.send(address=notice.recipient, subject=notice.subject, text=notice.body,
                                    reference=reference)
            except DeliveryRefused as refused:
                _failed(notice, now=now, error=str(refused), final=True, report=report)
            except Exception as error:  # noqa: BLE001 — any provider or network error: try again later
                _failed(notice, now=now, error=f"{type(error).__name__}: {error}", final=False, report=report)
                if smtp is not None and notice.channel == Notice.Channel.EMAIL:
                    smtp.close()
                    smtp = None
            else:
                Notice.objects.filter(pk=notice.pk).update(status=Notice.Status.SENT, sent_at=now,
                                                           provider_ref=str(ref)[:120], attempts=notice.attempts + 1,
                                                           next_attempt_at=None, last_error="")
                report.sent += 1
    finally:
        if smtp is not None:
            smtp.close()
    report.letters_waiting = Notice.objects.filter(channel=Notice.Channel.LETTER,
                                                   status=Notice.Status.QUEUED).count()
    return report


def _failed(notice: Notice, *, now: datetime, error: str, final: bool, report: DeliveryReport) -> None:
    attempts = notice.attempts + 1
    retry_at = None if final else rules.next_attempt(failed_at=now, attempts=attempts)
    if retry_at is None:
        Notice.objects.filter(pk=notice.pk).update(status=Notice.Status.FAILED, attempts=attempts,
                                                   next_attempt_at=None, last_error=error[:500])
        record_event(action="NOTICE_FAILED", obj=notice, occurred_at=now,
                     detail={"kind": notice.kind, "channel": notice.channel, "attempts": attempts, "error": error[:500]})
        report.failed += 1
    else:
        Notice.objects.filter(pk=notice.pk).update(status=Notice.Status.QUEUED, attempts=attempts,
                                                   next_attempt_at=retry_at, last_error=error[:500])
        report.retrying += 1
    report.errors.append(f"notice {notice.pk} ({notice.channel}): {error}")
    log.warning("notice %s (%s) not sent, attempt %s: %s", notice.pk, notice.channel, attempts, error)


class LetterRefused(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def record_delivery(*, notice: Notice, delivered_at: datetime, proof: str, by) -> Notice:
    """A letter was handed over or posted: who, when and the proof (a signed receipt's number, a postal tracking
    number, a photo's reference). Audited; a letter is delivered once."""
    from django.utils.translation import gettext as _

    proof = (proof or "").strip()
    if not proof:
        raise LetterRefused("PROOF_REQUIRED", _("A delivered letter needs its proof: the receipt or tracking number."))
    with transaction.atomic():
        locked = Notice.objects.select_for_update().get(pk=notice.pk)
        if locked.channel != Notice.Channel.LETTER:
            raise LetterRefused("NOT_A_LETTER", _("Only a letter is delivered by hand or by post."))
        if locked.status == Notice.Status.DELIVERED:
            raise LetterRefused("ALREADY_DELIVERED", _("This letter was already recorded as delivered."))
        locked.status, locked.delivered_at, locked.delivered_by = Notice.Status.DELIVERED, delivered_at, by
        locked.delivery_proof = proof[:300]
        locked.save(update_fields=["status", "delivered_at", "delivered_by", "delivery_proof"])
        record_event(action="NOTICE_DELIVERED", obj=locked, occurred_at=delivered_at, user=by,
                     detail={"kind": locked.kind, "proof": locked.delivery_proof})
    return locked


def notices_of(account: Account, *, limit: int = 20) -> list[Notice]:
    return list(Notice.objects.filter(account=account).order_by("-created_at", "-pk")[:limit])
