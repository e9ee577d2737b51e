from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "gridcounter.interfaces.web"
    label = "web"
    verbose_name = "Web"
