from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "webapp.operations"
    verbose_name = "Operations"
