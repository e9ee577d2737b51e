from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "gridcounter.interfaces.web"
    label = "web"
    verbose_name = "Web"

    def ready(self):
        from . import signals  # noqa: F401  (audits sign-in, failures, sign-out and lockouts)
