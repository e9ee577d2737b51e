"""Double-entry ledger: a journal entry has postings that sum to zero; amounts in integer fen."""
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history

APPEND_ONLY = "the ledger is append-only: post a reversing entry instead"


class AppendOnlyQuerySet(models.QuerySet):
    """Journal entries and postings are never updated or deleted, not even in bulk."""

    def update(self, **kwargs):
        raise PermissionDenied(APPEND_ONLY)

    def delete(self):
        raise PermissionDenied(APPEND_ONLY)


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionDenied(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied(APPEND_ONLY)


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


class JournalEntry(AppendOnlyModel):
    class Kind(models.TextChoices):
        BILL = "BILL", _("Bill")
        BILL_CANCELLATION = "BILL_CANCELLATION", _("Bill cancellation")
        PAYMENT = "PAYMENT", _("Payment")
        REVERSAL = "REVERSAL", _("Payment reversal")
        ADJUSTMENT = "ADJUSTMENT", _("Adjustment")
        CORRECTION = "CORRECTION", _("Rebilling difference")
        PENALTY = "PENALTY", _("Late-payment penalty")
        PENALTY_WAIVER = "PENALTY_WAIVER", _("Late-payment penalty waived")

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
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)  # unique: Meta
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
        # a constraint rather than unique=True: the same unique index, without the pattern-matching (LIKE) copy
        # PostgreSQL would get for a unique text field and no query uses
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="journal_entry_idempotency_key")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.account} {self.effective_date}"


class Posting(AppendOnlyModel):
    """One side of a journal entry. Debit positive, credit negative, in fen; an entry's postings sum to 0."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings", verbose_name=_("entry"))
    ledger_account = models.CharField(_("ledger account"), max_length=24, choices=LedgerAccount.choices)
    account = models.ForeignKey(  # indexed by (account, ledger_account), below
        "registry.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="postings",
        verbose_name=_("customer account"), db_index=False,
    )
    amount_fen = models.BigIntegerField(_("amount (fen, debit +)"))

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        indexes = [models.Index(fields=["account", "ledger_account"])]

    def __str__(self):
        return f"{self.ledger_account} {self.amount_fen:+d}"


class Payment(models.Model):
    """Money received for an account at a hall: one receipt, booked once per idempotency key."""

    class Channel(models.TextChoices):
        CASH = "CASH", _("Cash")
        CARD = "CARD", _("Bank card")
        PREPAY_DEPOSIT = "PREPAY_DEPOSIT", _("From prepayment deposit")
        BANK_WITHHOLDING = "BANK_WITHHOLDING", _("Bank withholding")
        ONLINE = "ONLINE", _("Online")

    class Status(models.TextChoices):
        POSTED = "POSTED", _("Posted")
        REVERSED = "REVERSED", _("Reversed")

    account = models.ForeignKey(
        "registry.Account", on_delete=models.PROTECT, related_name="payments", verbose_name=_("account")
    )
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    channel = models.CharField(_("channel"), max_length=24, choices=Channel.choices)
    hall = models.ForeignKey("org.Hall", on_delete=models.PROTECT, related_name="payments", verbose_name=_("hall"))
    clerk = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="payments_taken",
        verbose_name=_("clerk"),
    )
    receipt_number = models.CharField(_("receipt number"), max_length=64, unique=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=80, unique=True)
    taken_at = models.DateTimeField(_("taken at"))
    taken_date = models.DateField(_("business date"))
    entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="payment", verbose_name=_("journal entry")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.POSTED)
    # what the customer handed over in cash (收款), when the clerk typed it; the change (找零) is this less the amount
    cash_tendered_fen = models.BigIntegerField(_("cash tendered (fen)"), null=True, blank=True)
    history = history()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["taken_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_amount_positive")]

    def __str__(self):
        return self.receipt_number

    @property
    def change_given_fen(self) -> int | None:
        return None if self.cash_tendered_fen is None else self.cash_tendered_fen - self.amount_fen


class PenaltyCharge(models.Model):
    """The late-payment penalty (电费违约金) charged on the ledger for one overdue bill: accrued to the day of the
    payment that cleared the bill (domain.penalty, the one rule), with its working as it was computed. Payments
    settle it like a bill; a supervisor may waive what is left of it, with a reason (never deleted)."""

    class Status(models.TextChoices):
        POSTED = "POSTED", _("Charged")
        WAIVED = "WAIVED", _("Waived")

    account = models.ForeignKey("registry.Account", on_delete=models.PROTECT, related_name="penalty_charges",
                                verbose_name=_("customer account"))
    bill = models.OneToOneField("billing.Bill", on_delete=models.PROTECT, related_name="penalty_charge",
                                verbose_name=_("overdue bill"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    accrued_to = models.DateField(_("accrued to"))
    working = models.JSONField(_("working"), default=list)
    entry = models.OneToOneField(JournalEntry, on_delete=models.PROTECT, related_name="penalty_charge",
                                 verbose_name=_("ledger entry"))
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("payment that cleared the bill"))
    created_at = models.DateTimeField(_("created at"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.POSTED)
    waived_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", verbose_name=_("waived by"))
    waived_at = models.DateTimeField(_("waived at"), null=True, blank=True)
    waiver_reason = models.TextField(_("reason for the waiver"), blank=True)
    waiver_entry = models.OneToOneField(JournalEntry, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("waiver's ledger entry"))

    class Meta:
        verbose_name = _("late-payment penalty")
        verbose_name_plural = _("late-payment penalties")
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="penalty_amount_positive")]

    def __str__(self):
        return f"{self.account} {self.bill.period}: {self.amount_fen}"


class PaymentAllocation(models.Model):
    """Part of a payment that settles part of a bill or of a penalty charge. Released (never deleted) on reversal
    or bill cancellation."""

    class Release(models.TextChoices):
        PAYMENT_REVERSED = "PAYMENT_REVERSED", _("Payment reversed")
        BILL_CANCELLED = "BILL_CANCELLED", _("Bill cancelled or replaced")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("payment"))
    bill = models.ForeignKey("billing.Bill", on_delete=models.PROTECT, null=True, blank=True, related_name="allocations",
                             verbose_name=_("bill"))
    penalty = models.ForeignKey(PenaltyCharge, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="allocations", verbose_name=_("late-payment penalty"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    allocated_at = models.DateTimeField(_("allocated at"))
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.CharField(_("release reason"), max_length=24, choices=Release.choices, blank=True)
    history = history()

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["allocated_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="allocation_amount_positive"),
                       models.CheckConstraint(condition=Q(bill__isnull=False, penalty__isnull=True)
                                              | Q(bill__isnull=True, penalty__isnull=False),
                                              name="allocation_settles_bill_or_penalty")]

    def __str__(self):
        return f"{self.payment} → {self.bill or self.penalty}: {self.amount_fen}"

    @property
    def kind(self) -> str:
        """What it settles: BILL, or PENALTY (a late-payment penalty charged on a bill)."""
        return "BILL" if self.bill_id else "PENALTY"

    @property
    def period(self) -> str:
        """The period of the bill it settles, or of the bill its penalty was charged on."""
        return self.bill.period if self.bill_id else self.penalty.bill.period

    @property
    def bill_of(self) -> int:
        """The bill it settles, or the bill its penalty was charged on."""
        return self.bill_id or self.penalty.bill_id


class Reversal(models.Model):
    """A payment taken back, with a reason: by the clerk who took it, the same open day at their hall, or by a
    supervisor of the account's city. Its journal entry reverses the payment's (docs/till.md)."""

    class Kind(models.TextChoices):
        CLERK_SAME_DAY = "CLERK_SAME_DAY", _("Clerk's own payment, same open day")
        SUPERVISOR = "SUPERVISOR", _("Supervisor")

    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="reversal", verbose_name=_("payment"))
    entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="payment_reversal", verbose_name=_("journal entry")
    )
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("reversed by")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.SUPERVISOR)
    hall = models.ForeignKey(
        "org.Hall", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("hall")
    )
    reason = models.TextField(_("reason"))
    reversed_at = models.DateTimeField(_("reversed at"))
    reversed_date = models.DateField(_("business date of the reversal"))
    # the payment's till day was already closed: that close stays as it was; the reversal counts in the reverser's
    # till of reversed_date as a post-close adjustment
    after_close = models.BooleanField(_("after the close of the payment's day"), default=False)

    class Meta:
        verbose_name = _("payment reversal")
        verbose_name_plural = _("payment reversals")
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="reversal_reason_required")]

    def __str__(self):
        return f"{self.payment} ({self.reversed_at:%Y-%m-%d})"


class ReceiptSequence(models.Model):
    """The last receipt number a hall issued on a business date; incremented under a row lock."""

    hall = models.ForeignKey("org.Hall", on_delete=models.PROTECT, related_name="+", verbose_name=_("hall"))
    business_date = models.DateField(_("business date"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("receipt number sequence")
        verbose_name_plural = _("receipt number sequences")
        constraints = [models.UniqueConstraint(fields=["hall", "business_date"], name="receipt_sequence_per_hall_day")]

    def __str__(self):
        return f"{self.hall} {self.business_date}: {self.last_number}"


class EntrySeal(models.Model):
    """A journal entry's link in its customer account's hash chain (`domain.ledger.entry_digest`).

    Written with the entry, in its transaction, under the account's lock; `seq` counts the account's entries from 1
    and is unique per account, so a chain cannot fork. `ledger-check` recomputes every link and names the first
    entry whose fields or postings were changed by SQL that went around the ledger's rules."""

    entry = models.OneToOneField(JournalEntry, primary_key=True, on_delete=models.PROTECT, related_name="seal",
                                 verbose_name=_("entry"))
    account_id = models.BigIntegerField(_("customer account"))
    seq = models.PositiveBigIntegerField(_("position in the account's chain"))
    digest = models.CharField(_("digest"), max_length=64)

    class Meta:
        verbose_name = _("journal entry seal")
        verbose_name_plural = _("journal entry seals")
        constraints = [models.UniqueConstraint(fields=["account_id", "seq"], name="entry_seal_one_per_place")]

    def __str__(self):
        return f"{self.account_id}#{self.seq} {self.digest[:12]}"


class TillDay(models.Model):
    """A clerk's day at a hall's till, closed at day's end (日结): cash counted by denomination and non-cash per
    channel declared, compared with what was booked. An over or short (长短款) carries a reason and waits for a
    supervisor's sign-off. A closed day takes no more payments for that clerk and hall. 解款: the bank's slip."""

    class Status(models.TextChoices):
        CLOSED = "CLOSED", _("Closed, balanced")
        AWAITING_SIGN_OFF = "AWAITING_SIGN_OFF", _("Closed, over or short awaits sign-off")
        SIGNED_OFF = "SIGNED_OFF", _("Closed, over or short signed off")

    clerk = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("clerk"))
    hall = models.ForeignKey("org.Hall", on_delete=models.PROTECT, related_name="+", verbose_name=_("hall"))
    business_date = models.DateField(_("business date"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    cash_counted = models.JSONField(_("cash counted by denomination (fen → pieces)"), default=dict)
    cash_declared_fen = models.BigIntegerField(_("cash declared (fen)"))
    non_cash_declared = models.JSONField(_("non-cash declared per channel (fen)"), default=dict)
    booked = models.JSONField(_("booked per channel (fen)"), default=dict)
    # reversals made this day, by this clerk at this hall, of payments of an earlier, closed day (fen per channel):
    # what the drawer is expected to hold is booked less these
    post_close_reversals = models.JSONField(_("post-close reversals per channel (fen)"), default=dict)
    difference_fen = models.BigIntegerField(_("over (+) or short (−) (fen)"))
    reason = models.TextField(_("reason"), blank=True)
    closed_at = models.DateTimeField(_("closed at"))
    signed_off_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+", verbose_name=_("signed off by"))
    signed_off_at = models.DateTimeField(_("signed off at"), null=True, blank=True)
    bank_slip_number = models.CharField(_("bank slip number"), max_length=64, blank=True)
    handed_over_fen = models.BigIntegerField(_("handed over to the bank (fen)"), null=True, blank=True)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    history = history()

    class Meta:
        verbose_name = _("till day")
        verbose_name_plural = _("till days")
        ordering = ["-business_date", "hall_id", "clerk_id"]
        constraints = [
            models.UniqueConstraint(fields=["clerk", "hall", "business_date"], name="till_day_one_per_clerk_hall_day"),
            models.CheckConstraint(condition=Q(difference_fen=0) | ~Q(reason=""), name="till_day_difference_reason"),
        ]

    def __str__(self):
        return f"{self.hall} {self.clerk} {self.business_date}"
