from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WithholdingConfig(AppConfig):
    name = "gridcounter.data.withholding"
    label = "withholding"
    verbose_name = _("Bank withholding")
    default_auto_field = "django.db.models.BigAutoField"
