"""Service requests (业务申请): the request, each step's completion, the documents kept with it. Thin models; the
workflow's rules are in domain.service, its use cases in application.service."""
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history


class ServiceRequest(models.Model):
    """One application of a request type, opened at any hall of its city, followed step by step."""

    class State(models.TextChoices):
        OPEN = "OPEN", _("In progress")
        DONE = "DONE", _("Completed")

    number = models.CharField(_("request number"), max_length=32, unique=True)
    city = models.ForeignKey("org.City", on_delete=models.PROTECT, related_name="+", verbose_name=_("city"))
    opened_hall = models.ForeignKey("org.Hall", on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("opened at hall"))
    opened_by = models.ForeignKey("org.StaffUser", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("opened by"))
    opened_at = models.DateTimeField(_("opened at"))
    opened_date = models.DateField(_("opened on"))
    request_type = models.CharField(_("request type"), max_length=48)
    rules_effective_date = models.DateField(_("rules in force from"))
    applicant_name = models.CharField(_("applicant"), max_length=200)
    id_type = models.CharField(_("ID type"), max_length=24)
    id_number = models.CharField(_("ID number"), max_length=64, db_index=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.CharField(_("supply address"), max_length=300)
    capacity_kva = models.DecimalField(_("capacity applied for (kVA)"), max_digits=12, decimal_places=2, null=True,
                                       blank=True)
    customer = models.ForeignKey("registry.Customer", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", verbose_name=_("customer"))
    origin_account = models.ForeignKey("registry.Account", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", verbose_name=_("started from account"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OPEN)
    current_step = models.CharField(_("current step"), max_length=32, blank=True)
    current_role = models.CharField(_("role of the current step"), max_length=32, blank=True)
    current_since_date = models.DateField(_("current step since"), null=True, blank=True)
    current_due_date = models.DateField(_("current step due"), null=True, blank=True)
    # the meter installation on record (装表): the account it serves is created after it, at the ACCOUNT step
    meter = models.ForeignKey("registry.Meter", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("meter installed"))
    installed_date = models.DateField(_("installed on"), null=True, blank=True)
    initial_readings = models.JSONField(_("readings at installation"), default=dict, blank=True)
    account = models.ForeignKey("registry.Account", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="service_requests", verbose_name=_("account created"))
    energised_date = models.DateField(_("energised on"), null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, null=True, blank=True, unique=True)
    history = history()

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["city", "state", "current_due_date"], name="service_request_due"),
                   models.Index(fields=["city", "state", "current_role"], name="service_request_role")]

    def __str__(self):
        return self.number


class ServiceStep(models.Model):
    """One step's completion: who, when, from which hall, why, and what it recorded. Completed once."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.PROTECT, related_name="steps",
                                verbose_name=_("request"))
    step = models.CharField(_("step"), max_length=32)
    position = models.PositiveSmallIntegerField(_("position"))
    completed_at = models.DateTimeField(_("completed at"))
    completed_date = models.DateField(_("completed on"))
    completed_by = models.ForeignKey("org.StaffUser", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("completed by"))
    hall = models.ForeignKey("org.Hall", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("hall"))
    reason = models.TextField(_("note"), blank=True)
    due_date = models.DateField(_("due"), null=True, blank=True)
    detail = models.JSONField(_("recorded"), default=dict, blank=True)

    class Meta:
        verbose_name = _("service request step")
        verbose_name_plural = _("service request steps")
        ordering = ["request", "position"]
        constraints = [models.UniqueConstraint(fields=["request", "step"], name="service_step_once")]

    def __str__(self):
        return f"{self.request_id} {self.step}"

    @property
    def on_time(self) -> bool:
        return self.due_date is None or self.completed_date <= self.due_date


def _document_path(instance, filename: str) -> str:
    return f"service-documents/{instance.uploaded_at:%Y/%m}/{filename}"


class ServiceDocument(models.Model):
    """A document kept with a request (ID, proof of address, promise, …): the file as uploaded and its SHA-256.
    Served only through its view (role and city checked)."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.PROTECT, related_name="documents",
                                verbose_name=_("request"))
    kind = models.CharField(_("document"), max_length=24)
    step = models.CharField(_("uploaded at step"), max_length=32)
    file = models.FileField(_("file"), upload_to=_document_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200, blank=True)
    content_type = models.CharField(_("content type"), max_length=32)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_at = models.DateTimeField(_("uploaded at"))
    uploaded_by = models.ForeignKey("org.StaffUser", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("uploaded by"))
    hall = models.ForeignKey("org.Hall", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("hall"))

    class Meta:
        verbose_name = _("service request document")
        verbose_name_plural = _("service request documents")
        ordering = ["request", "uploaded_at", "id"]
        constraints = [
            # the same file sent again as the same document (a retry) is kept once
            models.UniqueConstraint(fields=["request", "kind", "sha256"], name="service_document_once"),
            models.CheckConstraint(condition=Q(size_bytes__gt=0), name="service_document_not_empty"),
        ]

    def __str__(self):
        return f"{self.request_id} {self.kind}"
