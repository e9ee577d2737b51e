from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReadingsConfig(AppConfig):
    name = "gridcounter.data.readings"
    label = "readings"
    verbose_name = _("Readings")
    default_auto_field = "django.db.models.BigAutoField"
