"""Bank withholding (代扣): the mandates signed at the counter, and the batches sent to a bank with their lines."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history


class Mandate(models.Model):
    """The customer's authority for a bank to pay the account's bills from a bank account (代扣协议)."""

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE", _("Active")
        CANCELLED = "CANCELLED", _("Cancelled")

    account = models.ForeignKey("registry.Account", on_delete=models.PROTECT, related_name="mandates",
                                verbose_name=_("account"))
    bank_code = models.CharField(_("bank"), max_length=12)
    holder_name = models.CharField(_("account holder"), max_length=60)
    bank_account = models.CharField(_("bank account number"), max_length=32)
    signed_date = models.DateField(_("signed on"))
    signed_at = models.DateTimeField(_("signed at"))
    signed_hall = models.ForeignKey("org.Hall", on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("signed at hall"))
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("signed by"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.ACTIVE)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("cancelled by"))
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    history = history()

    class Meta:
        verbose_name = _("withholding mandate")
        verbose_name_plural = _("withholding mandates")
        indexes = [models.Index(fields=["bank_code", "status"], name="mandate_bank_status")]
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(status="ACTIVE"), name="mandate_one_active"),
            models.CheckConstraint(condition=Q(status__in=["ACTIVE", "CANCELLED"]), name="mandate_status"),
        ]

    def __str__(self):
        return f"{self.bank_code} {self.account_id} {self.status}"


class WithholdingBatch(models.Model):
    """One file sent to one bank for one city: what each account's open bills asked on the day it was made."""

    number = models.CharField(_("batch number"), max_length=32, unique=True)
    bank_code = models.CharField(_("bank"), max_length=12)
    city = models.ForeignKey("org.City", on_delete=models.PROTECT, related_name="+", verbose_name=_("city"))
    as_of_date = models.DateField(_("as of"))
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    total_fen = models.BigIntegerField(_("total (fen)"), default=0)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True,
                                     help_text=_("When the last line had its result: no line is pending."))

    class Meta:
        verbose_name = _("withholding batch")
        verbose_name_plural = _("withholding batches")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.number


class WithholdingLine(models.Model):
    """One account's amount in a batch, and what the bank answered for it."""

    class State(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        SUCCEEDED = "SUCCEEDED", _("Collected")
        FAILED = "FAILED", _("Failed")

    batch = models.ForeignKey(WithholdingBatch, on_delete=models.PROTECT, related_name="lines",
                              verbose_name=_("batch"))
    line = models.PositiveIntegerField(_("line"))
    account = models.ForeignKey("registry.Account", on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("account"))
    mandate = models.ForeignKey(Mandate, on_delete=models.PROTECT, related_name="lines", verbose_name=_("mandate"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.PENDING)
    result_code = models.CharField(_("result code"), max_length=8, blank=True)
    result_message = models.CharField(_("bank's message"), max_length=200, blank=True)
    bank_transaction = models.CharField(_("bank transaction"), max_length=48, blank=True)
    result_at = models.DateTimeField(_("result recorded at"), null=True, blank=True)
    result_file = models.ForeignKey("imports.ImportBatch", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("result file"))
    payment = models.OneToOneField("ledger.Payment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="withholding_line", verbose_name=_("payment"))

    class Meta:
        verbose_name = _("withholding line")
        verbose_name_plural = _("withholding lines")
        ordering = ["batch", "line"]
        indexes = [models.Index(fields=["account", "state"], name="withholding_line_account")]
        constraints = [
            models.UniqueConstraint(fields=["batch", "line"], name="withholding_line_once"),
            # an account is in at most one batch awaiting the bank's answer
            models.UniqueConstraint(fields=["account"], condition=Q(state="PENDING"),
                                    name="withholding_line_one_pending"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="withholding_line_positive"),
            models.CheckConstraint(condition=Q(state="SUCCEEDED", payment__isnull=False) | ~Q(state="SUCCEEDED"),
                                   name="withholding_line_success_paid"),
        ]

    def __str__(self):
        return f"{self.batch_id}:{self.line}"
