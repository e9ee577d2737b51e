"""Registry: customers, premises, accounts (户号), meters, installations and reading routes."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history
from gridcounter.domain.search_keys import customer_search_key, premise_search_key

SEARCH_KEYED = frozenset({"registry.customer", "registry.premise"})  # the models whose rows carry a search_key


def fill_search_key(model, row: dict) -> dict:
    """The row (attname -> value) of a customer or premise with its ``search_key`` computed from its fields; any
    other model's row as it is. The one place keys are made: ``save()`` and the bulk writers both call it."""
    label = model._meta.label_lower
    if label == "registry.customer":
        row["search_key"] = customer_search_key(row.get("name", ""))
    elif label == "registry.premise":
        row["search_key"] = premise_search_key(row.get("address", ""), row.get("building", ""))
    return row


class Customer(models.Model):
    class Kind(models.TextChoices):
        PERSON = "PERSON", _("Person")
        ORGANISATION = "ORGANISATION", _("Organisation")

    class IdType(models.TextChoices):
        RESIDENT_ID = "RESIDENT_ID", _("Resident identity card")
        PASSPORT = "PASSPORT", _("Passport")
        HK_MACAO_PERMIT = "HK_MACAO_PERMIT", _("Mainland travel permit for HK/Macao residents")
        TAIWAN_PERMIT = "TAIWAN_PERMIT", _("Mainland travel permit for Taiwan residents")
        FOREIGN_RESIDENT = "FOREIGN_RESIDENT", _("Foreign permanent resident ID")
        USCC = "USCC", _("Unified social credit code")
        OTHER = "OTHER", _("Other")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200, db_index=True)
    id_type = models.CharField(_("ID type"), max_length=24, choices=IdType.choices)
    id_number = models.CharField(_("ID number"), max_length=64, db_index=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True)
    phone_alt = models.CharField(_("second phone"), max_length=32, blank=True)
    # Words the counter's search finds the customer by (name, given name, pinyin, initials); see fill_search_key.
    search_key = models.CharField(_("search key"), max_length=600, blank=True, default="", editable=False)
    history = history()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [models.UniqueConstraint(fields=["id_type", "id_number"], name="customer_unique_id")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.search_key = fill_search_key(Customer, {"name": self.name})["search_key"]
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_key"}
        super().save(*args, **kwargs)


class Premise(models.Model):
    city = models.ForeignKey("org.City", on_delete=models.PROTECT, related_name="premises", verbose_name=_("city"))
    address = models.CharField(_("address"), max_length=300, db_index=True)
    building = models.CharField(_("building"), max_length=120, blank=True, db_index=True)
    # Words the counter's search finds the premise by (address, building); see fill_search_key.
    search_key = models.CharField(_("search key"), max_length=600, blank=True, default="", editable=False)
    history = history()

    class Meta:
        verbose_name = _("premise")
        verbose_name_plural = _("premises")
        constraints = [models.UniqueConstraint(fields=["city", "address"], name="premise_unique_address")]

    def __str__(self):
        return self.address

    def save(self, *args, **kwargs):
        self.search_key = fill_search_key(Premise, {"address": self.address, "building": self.building})["search_key"]
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_key"}
        super().save(*args, **kwargs)


class Route(models.Model):
    """A reading route (抄表段): a fixed reading day and an assigned reader."""

    city = models.ForeignKey("org.City", on_delete=models.PROTECT, related_name="routes", verbose_name=_("city"))
    hall = models.ForeignKey("org.Hall", on_delete=models.PROTECT, related_name="routes", verbose_name=_("hall"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    reading_day = models.PositiveSmallIntegerField(
        _("fixed reading day"), validators=[MinValueValidator(1), MaxValueValidator(28)]
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="routes",
        verbose_name=_("meter reader"),
    )
    history = history()

    class Meta:
        verbose_name = _("reading route")
        verbose_name_plural = _("reading routes")
        constraints = [
            models.CheckConstraint(condition=Q(reading_day__gte=1, reading_day__lte=28), name="route_reading_day_1_28")
        ]

    def __str__(self):
        return self.code


class UsageCategory(models.TextChoices):
    RESIDENTIAL = "RESIDENTIAL", _("Residential")
    SHARED_METER_RESIDENTIAL = "SHARED_METER_RESIDENTIAL", _("Residential, shared meter")
    GENERAL_COMMERCIAL = "GENERAL_COMMERCIAL", _("General commercial and industrial")
    LARGE_INDUSTRY = "LARGE_INDUSTRY", _("Large industry")
    AGRICULTURE = "AGRICULTURE", _("Agriculture")


class VoltageLevel(models.TextChoices):
    LV_220V = "LV_220V", _("220 V")
    LV_380V = "LV_380V", _("380 V")
    KV_1_10 = "KV_1_10", _("1–10 kV")
    KV_20 = "KV_20", _("20 kV")
    KV_35 = "KV_35", _("35 kV")
    KV_110 = "KV_110", _("110 kV")
    KV_220 = "KV_220", _("220 kV and above")


class Account(models.Model):
    """A billing account (户号)."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending connection")
        ACTIVE = "ACTIVE", _("Active")
        SUSPENDED = "SUSPENDED", _("Suspended (暂停)")
        DISCONNECTED = "DISCONNECTED", _("Disconnected")
        CLOSED = "CLOSED", _("Closed (销户)")

    number = models.CharField(_("account number"), max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("customer"))
    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("premise"))
    city = models.ForeignKey("org.City", on_delete=models.PROTECT, related_name="accounts", verbose_name=_("city"))
    home_hall = models.ForeignKey(
        "org.Hall", on_delete=models.PROTECT, related_name="accounts", verbose_name=_("home hall")
    )
    route = models.ForeignKey(
        Route, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("reading route")
    )
    walk_order = models.PositiveIntegerField(_("walking order on route"), default=0)
    usage_category = models.CharField(_("usage category"), max_length=32, choices=UsageCategory.choices)
    tariff_id = models.CharField(_("tariff"), max_length=64, db_index=True)
    voltage = models.CharField(_("voltage level"), max_length=16, choices=VoltageLevel.choices)
    capacity_kva = models.DecimalField(_("contracted capacity (kVA)"), max_digits=12, decimal_places=2, null=True, blank=True)
    contract_demand_kw = models.DecimalField(
        _("contract demand (kW)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    household_size = models.PositiveSmallIntegerField(_("household size"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    bank_withholding = models.BooleanField(_("bank withholding mandate"), default=False)
    bank_account_ref = models.CharField(_("withholding bank account"), max_length=64, blank=True)
    opened_date = models.DateField(_("opened on"), null=True, blank=True)
    history = history()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        indexes = [models.Index(fields=["route", "walk_order"])]

    def __str__(self):
        return self.number

    def clean(self):
        if self.premise_id and self.city_id and self.premise.city_id != self.city_id:
            raise ValidationError({"premise": _("The premise is in another city.")})


class Meter(models.Model):
    class Register(models.TextChoices):
        TOTAL = "TOTAL", _("Total")
        PEAK = "PEAK", _("Peak")
        FLAT = "FLAT", _("Flat")
        VALLEY = "VALLEY", _("Valley")
        REACTIVE = "REACTIVE", _("Reactive")

    asset_number = models.CharField(_("asset number"), max_length=64, unique=True)
    digits = models.PositiveSmallIntegerField(_("number of digits"), validators=[MinValueValidator(4), MaxValueValidator(10)])
    multiplier = models.DecimalField(_("multiplier (CT × PT)"), max_digits=12, decimal_places=2, default=1)
    registers = models.JSONField(_("registers"), default=list, help_text=_("Register codes, e.g. [\"TOTAL\"]"))
    sends_intervals = models.BooleanField(
        _("sends 15-minute intervals"), default=False,
        help_text=_("An AMI meter billed from its 15-minute intervals: a period with none of them is held for "
                    "review (GAP) instead of being billed from the registers. Set when its first intervals are "
                    "imported."))
    history = history()

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        constraints = [models.CheckConstraint(condition=Q(multiplier__gt=0), name="meter_multiplier_positive")]

    def __str__(self):
        return self.asset_number


class Installation(models.Model):
    """Meter M served account A over the half-open interval [installed_date, removed_date)."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="installations", verbose_name=_("meter"))
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="installations", verbose_name=_("account"))
    installed_date = models.DateField(_("installed on"))
    removed_date = models.DateField(_("removed on"), null=True, blank=True)
    initial_readings = models.JSONField(_("readings at installation"), default=dict, blank=True)
    final_readings = models.JSONField(_("readings at removal"), default=dict, blank=True)
    history = history()

    class Meta:
        verbose_name = _("installation")
        verbose_name_plural = _("installations")
        ordering = ["installed_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(removed_date__isnull=True) | Q(removed_date__gt=F("installed_date")),
                name="installation_interval_nonempty",
            ),
        ]

    def __str__(self):
        return f"{self.meter} @ {self.account} [{self.installed_date}, {self.removed_date or '…'})"


class RecentAccount(models.Model):
    """An account a member of staff opened, and when it was last opened: the counter's "recent customers".

    One row per (user, account), moved forward each time; kept in the database rather than in the session, since
    the screens a clerk opens at once each save their session and the last to finish would drop the others' change.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("user"))
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", verbose_name=_("account"))
    opened_at = models.DateTimeField(_("last opened at"))

    class Meta:
        verbose_name = _("recently opened account")
        verbose_name_plural = _("recently opened accounts")
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="recent_account_once_per_user")]
        indexes = [models.Index(fields=["user", "-opened_at"], name="recent_account_user_time")]

    def __str__(self):
        return f"{self.user_id} → {self.account_id} @ {self.opened_at:%Y-%m-%d %H:%M}"
