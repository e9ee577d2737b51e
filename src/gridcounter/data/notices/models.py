"""The outbox of notices to customers: each notice as it was written, where it went, and what became of it."""
from django.db import models
from django.utils.translation import gettext_lazy as _


class Notice(models.Model):
    class Channel(models.TextChoices):
        SMS = "SMS", _("SMS")
        EMAIL = "EMAIL", _("E-mail")
        LETTER = "LETTER", _("Letter")

    class Status(models.TextChoices):
        QUEUED = "QUEUED", _("Waiting to be sent")
        SENDING = "SENDING", _("Being sent")
        SENT = "SENT", _("Sent")
        DELIVERED = "DELIVERED", _("Delivered")
        FAILED = "FAILED", _("Could not be sent")

    city = models.ForeignKey("org.City", on_delete=models.PROTECT, related_name="+", verbose_name=_("city"))
    account = models.ForeignKey("registry.Account", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="notices", verbose_name=_("customer account"))
    kind = models.CharField(_("kind"), max_length=40)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=300)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("text"))
    source_type = models.CharField(_("source type"), max_length=64, blank=True)
    source_id = models.CharField(_("source id"), max_length=64, blank=True)
    # once per source and channel (a retried bill run or request step queues nothing twice)
    key = models.CharField(_("key"), max_length=160, unique=True)
    created_at = models.DateTimeField(_("created at"))
    not_before = models.DateTimeField(_("not before"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_ref = models.CharField(_("provider's reference"), max_length=120, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    delivered_by = models.ForeignKey("org.StaffUser", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", verbose_name=_("delivered by"))
    delivery_proof = models.CharField(_("proof of delivery"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notice_due"),
            models.Index(fields=["account", "-created_at"], name="notice_account_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(channel__in=["SMS", "EMAIL", "LETTER"]), name="notice_channel"),
        ]

    def __str__(self):
        return f"{self.kind} {self.channel} {self.recipient}"
