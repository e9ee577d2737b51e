from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "gridcounter.data.ledger"
    label = "ledger"
    verbose_name = _("Ledger")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from gridcounter.data.ledger.guard import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="gc_ledger_maintenance")
