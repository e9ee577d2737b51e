from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "gridcounter.data.service"
    label = "service"
    verbose_name = _("Service requests")
    default_auto_field = "django.db.models.BigAutoField"
