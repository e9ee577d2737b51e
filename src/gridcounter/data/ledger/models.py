"""Double-entry ledger: a journal entry has postings that sum to zero; amounts in integer fen."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LedgerAccount(models.TextChoices):
    """The general-ledger side of a posting. RECEIVABLE postings carry the customer account."""

    RECEIVABLE = "RECEIVABLE", _("Customer receivable")
    ENERGY_REVENUE = "ENERGY_REVENUE", _("Electricity revenue")
    PENALTY_REVENUE = "PENALTY_REVENUE", _("Late-payment penalty revenue")
    CASH = "CASH", _("Cash at hall")
    CARD = "CARD", _("Card settlement")
    BANK = "BANK", _("Bank withholding settlement")
    ONLINE = "ONLINE", _("Online payment settlement")
    PREPAY_DEPOSIT = "PREPAY_DEPOSIT", _("Prepayment deposit")
    ADJUSTMENT = "ADJUSTMENT", _("Billing adjustments")


class JournalEntry(models.Model):
    class Kind(models.TextChoices):
        BILL = "BILL", _("Bill")
        BILL_CANCELLATION = "BILL_CANCELLATION", _("Bill cancellation")
        PAYMENT = "PAYMENT", _("Payment")
        REVERSAL = "REVERSAL", _("Payment reversal")
        ADJUSTMENT = "ADJUSTMENT", _("Adjustment")
        CORRECTION = "CORRECTION", _("Rebilling difference")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    account = models.ForeignKey(
        "registry.Account", on_delete=models.PROTECT, related_name="journal_entries", verbose_name=_("account")
    )
    effective_date = models.DateField(_("effective date"))
    created_at = models.DateTimeField(_("created at"))
    description = models.CharField(_("description"), max_length=300)
    source_type = models.CharField(_("source type"), max_length=32, blank=True)
    source_id = models.CharField(_("source id"), max_length=64, blank=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by", verbose_name=_("reverses")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("created by"),
    )
    hall = models.ForeignKey(
        "org.Hall", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("hall")
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["effective_date", "id"]
        indexes = [models.Index(fields=["source_type", "source_id"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.account} {self.effective_date}"


class Posting(models.Model):
    """One side of a journal entry. Debit positive, credit negative, in fen; an entry's postings sum to 0."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings", verbose_name=_("entry"))
    ledger_account = models.CharField(_("ledger account"), max_length=24, choices=LedgerAccount.choices)
    account = models.ForeignKey(
        "registry.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="postings",
        verbose_name=_("customer account"),
    )
    amount_fen = models.BigIntegerField(_("amount (fen, debit +)"))

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        indexes = [models.Index(fields=["account", "ledger_account"])]

    def __str__(self):
        return f"{self.ledger_account} {self.amount_fen:+d}"
