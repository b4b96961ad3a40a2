from django.apps import AppConfig


class CapabilitiesConfig(AppConfig):
    name = "webapp.capabilities"
    label = "capabilities"
    verbose_name = "Capability notes"
