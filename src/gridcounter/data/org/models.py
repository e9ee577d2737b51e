"""Organisation: company, city, service hall, and the staff who work in them."""
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.models import history


class Company(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    history = history()

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")

    def __str__(self):
        return self.name


class City(models.Model):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="cities", verbose_name=_("company"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    province = models.CharField(_("province code"), max_length=8, help_text=_("Two-letter province code, e.g. BJ, SH"))
    history = history()

    class Meta:
        verbose_name = _("city")
        verbose_name_plural = _("cities")

    def __str__(self):
        return self.name


class Hall(models.Model):
    class Kind(models.TextChoices):
        CITY = "CITY", _("City service hall")
        COUNTY = "COUNTY", _("County service hall")
        RURAL = "RURAL", _("Rural supply station")

    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="halls", verbose_name=_("city"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CITY)
    address = models.CharField(_("address"), max_length=300, blank=True)
    history = history()

    class Meta:
        verbose_name = _("service hall")
        verbose_name_plural = _("service halls")

    def __str__(self):
        return self.name


class Role(models.Model):
    class Code(models.TextChoices):
        CLERK = "CLERK", _("Counter clerk")
        METER_READER = "METER_READER", _("Meter reader")
        AUDITOR = "AUDITOR", _("Billing auditor")
        INSTALLER = "INSTALLER", _("Installer")
        ACCOUNT_MANAGER = "ACCOUNT_MANAGER", _("Key-account manager")
        SUPERVISOR = "SUPERVISOR", _("Supervisor")
        ADMIN = "ADMIN", _("Administrator")

    code = models.CharField(_("code"), max_length=32, unique=True, choices=Code.choices)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self):
        return str(self.get_code_display())


class StaffUser(AbstractUser):
    """A member of staff: belongs to one hall and holds one or more roles."""

    hall = models.ForeignKey(
        Hall, on_delete=models.PROTECT, null=True, blank=True, related_name="staff", verbose_name=_("hall")
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="staff", verbose_name=_("roles"))
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    history = history(m2m_fields=[roles])

    class Meta:
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")

    def __str__(self):
        return self.display_name or self.username

    @property
    def city_id(self):
        return self.hall.city_id if self.hall_id else None

    def role_codes(self) -> set[str]:
        if not hasattr(self, "_role_codes"):
            self._role_codes = set(self.roles.values_list("code", flat=True))
        return self._role_codes

    def has_role(self, *codes: str) -> bool:
        return bool(self.role_codes() & set(codes))
