"""Bills, their lines and explanations, and bill runs."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history


class BillRun(models.Model):
    period = models.CharField(_("period (YYYY-MM)"), max_length=7, db_index=True)
    route = models.ForeignKey(
        "registry.Route", null=True, blank=True, on_delete=models.PROTECT, related_name="bill_runs",
        verbose_name=_("route"),
    )
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("started by"),
    )
    summary = models.JSONField(_("summary"), default=dict, blank=True)

    class Meta:
        verbose_name = _("bill run")
        verbose_name_plural = _("bill runs")
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.period} {self.route or ''}"


class Bill(models.Model):
    class Status(models.TextChoices):
        ISSUED = "ISSUED", _("Issued")
        HELD = "HELD", _("Held for review")
        CANCELLED = "CANCELLED", _("Cancelled")

    account = models.ForeignKey("registry.Account", on_delete=models.PROTECT, related_name="bills", verbose_name=_("account"))
    period = models.CharField(_("period (YYYY-MM)"), max_length=7)  # indexed with status, below
    start_date = models.DateField(_("from (inclusive)"))
    end_date = models.DateField(_("to (exclusive)"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    tariff_id = models.CharField(_("tariff"), max_length=64)
    kwh = models.DecimalField(_("kWh"), max_digits=14, decimal_places=2)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    is_estimate = models.BooleanField(_("based on an estimate"), default=False)
    hold_codes = models.JSONField(_("hold codes"), default=list, blank=True)
    readings = models.JSONField(
        _("readings used"), default=dict, blank=True,
        help_text=_("Per register: previous and current value, dates, reading ids and whether estimated."),
    )
    explanation = models.JSONField(
        _("explanation"), default=list, blank=True,
        help_text=_("Reason codes, each with its numbers and a sentence in Chinese and English."),
    )
    facts = models.JSONField(_("rating facts"), default=dict, blank=True)
    issued_date = models.DateField(_("issued on"), null=True, blank=True)
    due_date = models.DateField(_("due on"), null=True, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by",
        verbose_name=_("replaces"),
    )
    run = models.ForeignKey(BillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="bills",
                            verbose_name=_("bill run"))
    created_at = models.DateTimeField(_("created at"))
    # versions keep who, when, from which hall and why, and every field but the three snapshots: the readings
    # used, the explanation and the rating facts are written with the bill and rebuilt only with a re-drafted
    # held bill (an issued bill is never edited: a correction is a new bill that replaces it). Leaving them out
    # halves what a bill run writes. Versions are looked up by bill (id), account and date, so the bill's other
    # indexes are not repeated there.
    history = history(excluded_fields=["readings", "explanation", "facts"], no_db_index=["period", "replaces", "run"])

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        ordering = ["account", "period", "id"]
        # (period, status) also serves look-ups by period alone. The review queue, the supervisor's day and the
        # customer screen look up the few held bills: a partial index holds only them, so issuing a bill adds
        # nothing to it.
        indexes = [models.Index(fields=["period", "status"]),
                   models.Index(fields=["account"], condition=Q(status="HELD"), name="bill_held_idx")]
        constraints = [
            # one live bill per account and period: rerunning never makes a second one
            models.UniqueConstraint(
                fields=["account", "period"], condition=~Q(status="CANCELLED"), name="bill_one_live_per_period"
            ),
        ]

    def __str__(self):
        return f"{self.account} {self.period}"


class BillLine(models.Model):
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines", verbose_name=_("bill"))
    position = models.PositiveSmallIntegerField(_("position"))
    code = models.CharField(_("code"), max_length=32)
    description = models.CharField(_("description"), max_length=200)
    description_en = models.CharField(_("description (English)"), max_length=200)
    quantity = models.DecimalField(_("quantity"), max_digits=16, decimal_places=4)
    unit = models.CharField(_("unit"), max_length=16)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=6)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    tier = models.PositiveSmallIntegerField(_("tier"), null=True, blank=True)
    tou_period = models.CharField(_("time-of-use period"), max_length=16, blank=True)
    segment_start_date = models.DateField(_("segment from"), null=True, blank=True)
    segment_end_date = models.DateField(_("segment to"), null=True, blank=True)

    class Meta:
        verbose_name = _("bill line")
        verbose_name_plural = _("bill lines")
        ordering = ["bill", "position"]

    def __str__(self):
        return self.description


class ReviewDecision(models.Model):
    """An auditor's decision on a held bill. Rows are kept; a bill may collect several (re-read, then release)."""

    class Decision(models.TextChoices):
        RELEASE = "RELEASE", _("Release (issue as it is)")
        CORRECT_READING = "CORRECT_READING", _("Correct the reading and re-rate")
        ORDER_REREAD = "ORDER_REREAD", _("Order an on-site re-read")
        ESTIMATE = "ESTIMATE", _("Replace the reading by an estimate and re-rate")

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="review_decisions", verbose_name=_("bill"))
    decision = models.CharField(_("decision"), max_length=24, choices=Decision.choices)
    reason = models.TextField(_("reason"))
    decided_at = models.DateTimeField(_("decided at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("decided by"),
    )
    hall = models.ForeignKey(
        "org.Hall", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("hall")
    )
    new_bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("new bill"),
        help_text=_("The bill issued or held in place of this one after a correction or estimate."),
    )
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("review decision")
        verbose_name_plural = _("review decisions")
        ordering = ["decided_at", "id"]

    def __str__(self):
        return f"{self.bill_id} {self.decision}"
