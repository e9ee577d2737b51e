"""Meter readings as received (actual) or made (estimates), with their validation outcome."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history


class Reading(models.Model):
    class Register(models.TextChoices):
        TOTAL = "TOTAL", _("Total")
        PEAK = "PEAK", _("Peak")
        FLAT = "FLAT", _("Flat")
        VALLEY = "VALLEY", _("Valley")
        REACTIVE = "REACTIVE", _("Reactive")

    class Source(models.TextChoices):
        AMI = "AMI", _("Remote (AMI)")
        HANDHELD = "HANDHELD", _("Meter reader's handheld")
        CUSTOMER = "CUSTOMER", _("Customer")
        ESTIMATE = "ESTIMATE", _("Estimate")
        CORRECTION = "CORRECTION", _("Auditor's correction")

    class Status(models.TextChoices):
        ACCEPTED = "ACCEPTED", _("Accepted")
        HELD = "HELD", _("Held for review")
        REJECTED = "REJECTED", _("Rejected")
        SUPERSEDED = "SUPERSEDED", _("Superseded")

    meter = models.ForeignKey("registry.Meter", on_delete=models.PROTECT, related_name="readings", verbose_name=_("meter"))
    account = models.ForeignKey(
        "registry.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="readings",
        verbose_name=_("account"), help_text=_("The account the meter served at read time; empty if none."),
    )
    register = models.CharField(_("register"), max_length=16, choices=Register.choices)
    read_at = models.DateTimeField(_("read at"))
    read_date = models.DateField(_("reading date (Asia/Shanghai)"), db_index=True)
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    is_estimate = models.BooleanField(_("estimate"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    codes = models.JSONField(_("validation codes"), default=list, blank=True)
    findings = models.JSONField(
        _("validation findings"), default=list, blank=True,
        help_text=_("Per code: severity, the numbers and the reason in Chinese and English."),
    )
    note = models.TextField(_("note"), blank=True, help_text=_("What the reader or auditor saw."))
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by",
        verbose_name=_("supersedes"),
    )
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derived",
        verbose_name=_("derived from"),
        help_text=_("The customer's reading this value was carried from to the fixed reading day."),
    )
    import_batch = models.ForeignKey(
        "imports.ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="readings",
        verbose_name=_("import batch"),
    )
    client_key = models.CharField(
        _("client idempotency key"), max_length=64, null=True, blank=True, unique=True,
        help_text=_("Set by phones and API clients so that a resent reading is stored once."),
    )
    created_at = models.DateTimeField(_("received at"))
    history = history()

    class Meta:
        verbose_name = _("reading")
        verbose_name_plural = _("readings")
        ordering = ["meter", "register", "read_at"]
        indexes = [
            models.Index(fields=["meter", "register", "read_at"]),
            models.Index(fields=["account", "register", "read_date"]),
        ]
        constraints = [
            # the same value for the same meter, register and instant is the same reading: stored once
            models.UniqueConstraint(fields=["meter", "register", "read_at", "value"], name="reading_unique_value"),
        ]

    def __str__(self):
        return f"{self.meter} {self.register} {self.read_date} = {self.value}"


class SiteVisitOrder(models.Model):
    """An on-site check or reading (现场核查 / 现场抄表) ordered by a rule or an auditor."""

    class Status(models.TextChoices):
        OPEN = "OPEN", _("Open")
        DONE = "DONE", _("Done")
        CANCELLED = "CANCELLED", _("Cancelled")

    account = models.ForeignKey(
        "registry.Account", on_delete=models.PROTECT, related_name="site_visit_orders", verbose_name=_("account")
    )
    meter = models.ForeignKey(
        "registry.Meter", null=True, blank=True, on_delete=models.PROTECT, related_name="site_visit_orders",
        verbose_name=_("meter"),
    )
    reason_code = models.CharField(_("reason code"), max_length=32, db_index=True)
    ordered_date = models.DateField(_("ordered on"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.SET_NULL, related_name="site_visit_orders",
        verbose_name=_("reading that caused it"),
    )
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))
    history = history()

    class Meta:
        verbose_name = _("site visit order")
        verbose_name_plural = _("site visit orders")
        ordering = ["-ordered_date", "-id"]
        constraints = [
            # one open order per account and reason: repeated findings do not send a second visit
            models.UniqueConstraint(fields=["account", "reason_code"], condition=models.Q(status="OPEN"),
                                    name="site_visit_one_open_per_reason"),
        ]

    def __str__(self):
        return f"{self.account} {self.reason_code} {self.ordered_date}"


class ReviewItem(models.Model):
    """An account-level validation finding with no reading of its own to carry it (MISSED, SWAP_SUSPECTED)."""

    class Status(models.TextChoices):
        OPEN = "OPEN", _("Open")
        RESOLVED = "RESOLVED", _("Resolved")

    account = models.ForeignKey(
        "registry.Account", on_delete=models.PROTECT, related_name="reading_review_items", verbose_name=_("account")
    )
    register = models.CharField(_("register"), max_length=16, choices=Reading.Register.choices)
    code = models.CharField(_("code"), max_length=32, db_index=True)
    fixed_date = models.DateField(_("fixed reading day"))
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_items",
        verbose_name=_("reading"),
    )
    finding = models.JSONField(_("finding"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("created at"))
    history = history()

    class Meta:
        verbose_name = _("reading review item")
        verbose_name_plural = _("reading review items")
        ordering = ["fixed_date", "account"]
        constraints = [
            models.UniqueConstraint(fields=["account", "register", "code", "fixed_date"], name="review_item_unique"),
        ]

    def __str__(self):
        return f"{self.account} {self.register} {self.code} {self.fixed_date}"


class AccessNote(models.Model):
    """How to reach a meter (e.g. "dog, key at neighbour"): written by the reader, shown on the route."""

    meter = models.OneToOneField("registry.Meter", on_delete=models.PROTECT, related_name="access_note",
                                 verbose_name=_("meter"))
    text = models.CharField(_("access note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated at"))
    history = history()

    class Meta:
        verbose_name = _("access note")
        verbose_name_plural = _("access notes")

    def __str__(self):
        return f"{self.meter}: {self.text}"


def _photo_path(instance, filename: str) -> str:
    # Names are never the phone's: reading id, a random part (two photos of one reading never collide) and the type.
    return f"reading-photos/{instance.uploaded_at:%Y/%m}/{filename}"


class ReadingPhoto(models.Model):
    """A photo of the meter's register taken with the reading: the auditor's evidence. Served only through the
    photo view (role and city checked), never as a public media URL. The file is kept as uploaded (its SHA-256
    is the one recorded); the thumbnail is made from it."""

    reading = models.ForeignKey(Reading, on_delete=models.PROTECT, related_name="photos", verbose_name=_("reading"))
    file = models.FileField(_("photo"), upload_to=_photo_path, max_length=200)
    thumbnail = models.FileField(_("thumbnail"), upload_to=_photo_path, max_length=200, blank=True)
    content_type = models.CharField(_("content type"), max_length=32)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    width = models.PositiveIntegerField(_("width (px)"))
    height = models.PositiveIntegerField(_("height (px)"))
    uploaded_at = models.DateTimeField(_("uploaded at"))
    uploaded_by = models.ForeignKey("org.StaffUser", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("uploaded by"))
    hall = models.ForeignKey("org.Hall", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("hall"))
    history = history()

    class Meta:
        verbose_name = _("reading photo")
        verbose_name_plural = _("reading photos")
        ordering = ["reading", "uploaded_at", "id"]
        constraints = [
            # the same photo resent with the same reading (a retry from the phone) is kept once
            models.UniqueConstraint(fields=["reading", "sha256"], name="reading_photo_unique"),
        ]

    def __str__(self):
        return f"{self.reading_id} {self.sha256[:12]}"
