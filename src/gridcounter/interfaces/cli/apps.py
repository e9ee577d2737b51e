from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "gridcounter.interfaces.cli"
    label = "cli"
    verbose_name = "Command line"
